# signalhub: the README's commands. Needs only Python >= 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TRANSLATIONS := platform/signalhub_platform/translations

.PHONY: install demo test lint bench clean translations messages

install: $(STAMP) translations

$(STAMP): setup.cfg setup.py
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "signalhub needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Compiled catalogues are build output (git-ignored); rebuilt whenever a .po changes.
translations: $(STAMP)
	@$(BIN)/pybabel compile -d $(TRANSLATIONS) -D messages >/dev/null

# Plain http on localhost: Secure cookies would be dropped by the browser, so the demo turns them off.
# `signalhub demo` leaves a database that already has data alone (exit 0), so this can run again.
demo: export SIGNALHUB_SECURE_COOKIES := false
demo: install
	$(BIN)/signalhub init
	$(BIN)/signalhub demo
	$(BIN)/signalhub serve --host 127.0.0.1 --port 5000

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The suite runs on SQLite; set SIGNALHUB_TEST_DATABASE_URL to run it on PostgreSQL as well.
test: lint
	$(BIN)/python -m pytest -q
	@if [ -n "$$SIGNALHUB_TEST_DATABASE_URL" ]; then \
	  echo "== again on $$SIGNALHUB_TEST_DATABASE_URL"; \
	  SIGNALHUB_TEST_BACKEND=postgresql $(BIN)/python -m pytest -q; \
	fi

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info

# Refresh the catalogue after changing UI text: extract, merge into zh, then translate the new entries.
messages: $(STAMP)
	mkdir -p build
	$(BIN)/pybabel extract -F babel.cfg -k _l -o build/messages.pot platform
	$(BIN)/pybabel update -i build/messages.pot -d $(TRANSLATIONS) -l zh
