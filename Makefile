# huimin: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Where `make run` serves: `make run PORT=8101`, `make run HOST=0.0.0.0 PORT=8101`.
HOST   ?= 127.0.0.1
PORT   ?= 8000
export DATABASE_URL ?= sqlite+aiosqlite:///var/huimin.db

.PHONY: run test install lint migrate demo check clean bench

$(BIN)/huimin: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(BIN)/huimin

## Serve on http://$(HOST):$(PORT) (docs at /docs) with demo data on SQLite; runs again
## on the same database (the demo finds its own organisations and prints new keys).
## One `huimin worker` runs beside the server (webhooks, reminders) and stops with it.
run: install
	mkdir -p var
	$(BIN)/huimin demo --base-url http://$(HOST):$(PORT)
	$(BIN)/huimin worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/huimin serve --host $(HOST) --port $(PORT)

## Run the test suite (SQLite; set TEST_DATABASE_URL for PostgreSQL).
test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .

migrate: install
	$(BIN)/huimin migrate

## Fail if the models and the migrations disagree.
check: install
	rm -f var/alembic-check.db
	DATABASE_URL=sqlite+aiosqlite:///var/alembic-check.db $(BIN)/alembic upgrade head
	DATABASE_URL=sqlite+aiosqlite:///var/alembic-check.db $(BIN)/alembic check
	rm -f var/alembic-check.db*

clean:
	rm -rf $(VENV) var/*.db var/*.db-*
