# huimin: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Where `make run` serves: `make run PORT=8101`, `make run HOST=0.0.0.0 PORT=8101`.
HOST   ?= 127.0.0.1
PORT   ?= 8000
# With DATABASE_URL unset, every huimin command uses the embedded PostgreSQL in
# $(HUIMIN_DATA_DIR)/pg (default var/pg), started when needed and stopped when the
# last huimin process exits: no PostgreSQL server on the machine is needed.

.PHONY: run test install lint migrate demo check clean bench

$(BIN)/huimin: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(BIN)/huimin

## Serve on http://$(HOST):$(PORT) (docs at /docs) with demo data on the embedded
## PostgreSQL; runs again on the same data (the demo finds its own organisations and
## prints new keys).
## One `huimin worker` runs beside the server (webhooks, reminders) and stops with it.
run: install
	$(BIN)/huimin demo --base-url http://$(HOST):$(PORT)
	$(BIN)/huimin worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/huimin serve --host $(HOST) --port $(PORT)

## Run the test suite on the embedded PostgreSQL (TEST_DATABASE_URL names another server).
test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .

migrate: install
	$(BIN)/huimin migrate

## Fail if the models or the SQL functions and the migrations disagree (upgrade,
## `alembic check`, downgrade and upgrade again, on a database of its own).
check: install
	$(BIN)/python -m pytest tests/migrations -q

clean:
	$(BIN)/huimin db stop 2>/dev/null || true
	rm -rf $(VENV) var/pg var/pg.*
