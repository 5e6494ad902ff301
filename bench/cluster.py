"""The multi-node run of tests/cluster, standalone, with its figures:

    .venv/bin/python bench/cluster.py [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

Two `huimin serve` nodes and two `huimin worker` processes on a scratch database of
the server named by --pg (default: the embedded PostgreSQL in $HUIMIN_DATA_DIR/pg), a
private Redis, nginx in front with deploy/nginx/huimin.conf; one node killed under
booking load. What runs and what is checked: tests/cluster/cluster.py. Needs nginx,
redis-server and openssl. Exit 0 when every check held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.embedded import EmbeddedPostgres  # noqa: E402
from core.settings import Settings  # noqa: E402
from tests.cluster import cluster  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", help="a PostgreSQL server's URL (any database on it); "
                                     "default: the embedded server")
    opts = parser.parse_args(argv)
    if opts.pg:
        figures, failures = cluster.run(opts.pg)
    else:
        with EmbeddedPostgres(Settings(_env_file=None).data_dir).lease() as server:
            figures, failures = cluster.run(server.url())
    print("\n".join(figures.lines()))
    for failure in failures:
        print(f"FAILED: {failure}")
    print("all checks held" if not failures else f"{len(failures)} checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
