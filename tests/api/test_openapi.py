"""The OpenAPI document is part of the product: every operation has a summary,
tags, its error responses as problem+json, and examples for what it accepts."""

from __future__ import annotations

import json


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


def _has_examples(doc: dict, media: dict) -> bool:
    if media.get("example") is not None or media.get("examples"):
        return True
    schema = _resolve(doc, media.get("schema", {}))
    if schema.get("examples") or schema.get("example") is not None:
        return True
    props = schema.get("properties", {})
    return bool(props) and all(
        p.get("examples") or p.get("example") is not None or p.get("default") is not None
        or "enum" in _resolve(doc, p) or "$ref" in p for p in props.values())


async def test_every_operation_is_documented(app):
    doc = app.openapi()
    problems = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            if not op.get("summary"):
                problems.append(f"{where}: no summary")
            if not op.get("tags"):
                problems.append(f"{where}: no tags")
            errors = {code: r for code, r in op.get("responses", {}).items()
                      if code[0] in "45"}
            if not errors and path not in ("/healthz", "/metrics"):
                problems.append(f"{where}: no error responses")
            for code, r in errors.items():
                if "application/problem+json" not in r.get("content", {}):
                    problems.append(f"{where}: {code} is not problem+json")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and not _has_examples(doc, body):
                problems.append(f"{where}: request body has no examples")
    assert not problems, "\n".join(problems)


async def test_the_document_is_served_and_serialisable(client):
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["components"]["schemas"]["ProblemDetail"]
    json.dumps(doc)
