# Two commands matter: `make run` (set up, migrate, start on http://127.0.0.1:5000) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app portal

.PHONY: install run test bench clean

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $@

install: $(BIN)/.installed

run: install
	$(FLASK) db upgrade
	$(FLASK) ensure-superuser
	$(FLASK) run --host 127.0.0.1 --port 5000

test: install
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
