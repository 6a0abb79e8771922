# Two commands matter: `make run` (set up, migrate, start on http://127.0.0.1:5000; `make run PORT=5001`
# when 5000 is taken) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app portal
PORT ?= 5000

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser services providers wrk run test lint bench clean messages translations

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $@

install: $(BIN)/.installed translations

# The compiled catalogues (.mo) are built from the committed .po files, never committed themselves.
CATALOGUES := $(wildcard portal/translations/*/LC_MESSAGES/messages.po)
translations: $(BIN)/.installed $(CATALOGUES:.po=.mo)

portal/translations/%/LC_MESSAGES/messages.mo: portal/translations/%/LC_MESSAGES/messages.po
	$(BIN)/pybabel compile --statistics -d portal/translations -l $*

# Extract every marked string into messages.pot and bring each language's .po up to date with it.
messages: $(BIN)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 -k lazy_pgettext:1c,2 --sort-by-file --no-wrap \
		--project "Account portal" -o portal/translations/messages.pot .
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations --no-wrap --ignore-obsolete --no-fuzzy-matching

# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
browser:
	@command -v /usr/bin/chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

# The scale-out test runs nginx and Redis next to two gunicorn servers.
services:
	@command -v nginx >/dev/null && command -v redis-server >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nginx-light redis-server; }

# The sign-in-with-another-account tests run a real OpenID Connect provider: npm's oidc-provider
# on Node.js (Debian's nodejs and npm when node is missing), installed from its package-lock.json.
# The portal's own OpenID provider is tried by an independent relying party, npm's openid-client,
# installed the same way.
OIDC_PROVIDER := tests/providers/oidc_provider
RELYING_PARTY := tests/providers/rp
providers: $(OIDC_PROVIDER)/node_modules/.installed $(RELYING_PARTY)/node_modules/.installed

%/node_modules/.installed: %/package.json %/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm; }
	npm ci --prefix $* --no-audit --no-fund
	touch $@

# The load run of `make bench` uses Debian's wrk.
wrk:
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }

run: install
	$(FLASK) db upgrade
	$(FLASK) ensure-superuser
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

test: install browser services providers
	$(BIN)/pytest

# Lint and import order (ruff, configured in pyproject.toml); CI runs it before the tests.
lint: install
	$(BIN)/ruff check .

# Hot paths in-process; CPU per authenticated read through WSGI; the OpenID provider's sign-ins,
# refreshes, code exchanges and introspections per core; the admin's lists at 100,000 users and
# 1,000,000 audit events (a throwaway database); then a load run of gunicorn against a bare-Flask
# ceiling with wrk.
bench: install wrk services
	$(BIN)/python -m bench
	$(BIN)/python -m bench.request_cpu
	$(BIN)/python -m bench.oidc
	$(BIN)/python -m bench.admin_lists
	$(BIN)/python -m bench.load

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache $(OIDC_PROVIDER)/node_modules $(RELYING_PARTY)/node_modules
