"""docs/deployment.md refers only to what the repository has: its files exist, its
`huimin` commands are commands of the CLI, its HUIMIN_* settings are settings, and
every nginx directive it explains is in deploy/nginx/huimin.conf (the file the
multi-node test runs). And the environment template cannot start production with
its placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
from pydantic import ValidationError

from api.cli import app
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
NGINX = (ROOT / "deploy" / "nginx" / "huimin.conf").read_text(encoding="utf-8")
# Code spans and code blocks: where the guide names files, commands and directives.
CODE = re.findall(r"`([^`\n]+)`", GUIDE) + re.findall(r"```[a-z]*\n(.*?)```", GUIDE, re.S)

# Settings that are read as they are, without the HUIMIN_ prefix.
PLAIN_SETTINGS = {"DATABASE_URL", "REDIS_URL"}


def test_every_file_the_guide_names_is_in_the_repository() -> None:
    named = {m for span in CODE for m in re.findall(
        r"(?<![\w/.])((?:deploy|docs|tests|bench|migrations)/[\w./@-]*[\w@])", span)}
    named |= {f"docs/{m}" for m in re.findall(r"\]\((\w+\.md)(?:#[\w-]+)?\)", GUIDE)}
    assert named, "the guide names no file: the pattern is wrong"
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"docs/deployment.md names files the repository lacks: {missing}"


def test_every_huimin_command_in_the_guide_exists() -> None:
    cli = typer.main.get_command(app)
    used = {tuple(m.split()) for span in CODE
            for m in re.findall(r"\bhuimin ([a-z]+(?: [a-z]+)?)", span)}
    assert used
    unknown = []
    for words in used:
        command = cli.commands.get(words[0])  # type: ignore[attr-defined]
        sub = getattr(command, "commands", None)
        if command is None or (sub is not None and (len(words) < 2 or words[1] not in sub)):
            unknown.append(" ".join(words))
    assert not unknown, f"docs/deployment.md uses commands huimin lacks: {sorted(unknown)}"


def test_every_setting_in_the_guide_is_a_setting() -> None:
    names = set(re.findall(r"\b(HUIMIN_[A-Z0-9_]+|DATABASE_URL|REDIS_URL)\b", GUIDE))
    fields = {f"HUIMIN_{f.upper()}" for f in Settings.model_fields} | PLAIN_SETTINGS
    unknown = sorted(n for n in names if n not in fields)
    assert not unknown, f"docs/deployment.md names settings huimin lacks: {unknown}"


def test_every_nginx_directive_the_guide_explains_is_in_the_file() -> None:
    directive = re.compile(r"^(proxy_\w+|client_max_body_size|keepalive\w*|listen|ssl_\w+|"
                           r"log_format|upstream|max_fails|fail_timeout)\b")
    explained = [span.rstrip(";").strip() for span in CODE if directive.match(span)]
    assert len(explained) >= 10
    conf = " ".join(" ".join(NGINX.split()).replace("' '", " ").split())  # log_format's strings
    absent = [d for d in explained
              if not all(" ".join(part.split()) in conf
                         for part in re.split(r"\s*(?:\.\.\.|[{};])\s*", d) if part.strip())]
    assert not absent, f"explained but not in deploy/nginx/huimin.conf: {absent}"
    # The rule the guide insists on: a POST sent to one node is never sent to another.
    assert "non_idempotent" not in re.sub(r"#.*", "", NGINX)


def test_the_environment_template_cannot_start_production_unfilled(monkeypatch) -> None:  # noqa: ANN001
    for name in [n for n in __import__("os").environ if n.startswith("HUIMIN_")]:
        monkeypatch.delenv(name)
    with pytest.raises(ValidationError, match="refuses default or missing secrets"):
        Settings(_env_file=ROOT / "deploy" / "huimin.env.example")
