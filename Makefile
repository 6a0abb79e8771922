# Two commands matter: `make run` (set up, migrate, start on http://127.0.0.1:5000) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app portal

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser run test bench clean

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $@

install: $(BIN)/.installed

# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
browser:
	@command -v /usr/bin/chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

run: install
	$(FLASK) db upgrade
	$(FLASK) ensure-superuser
	$(FLASK) run --host 127.0.0.1 --port 5000

test: install browser
	$(BIN)/pytest

# Hot paths, then the admin's lists at 100,000 users and 1,000,000 audit events (a throwaway database).
bench: install
	$(BIN)/python -m bench
	$(BIN)/python -m bench.admin_lists

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
