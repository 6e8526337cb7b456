# Spaces: `make run` starts the app with every process; `make test` runs the whole suite.
# Both install what is missing first (Debian packages via apt-get, Python packages in .venv).

VENV ?= .venv
PY := $(VENV)/bin/python
SPACES_PORT ?= 8000
export SPACES_PORT
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: run test deps system-deps python-deps browser-test-deps migrate bench clean

run: deps
	@mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	@echo "Spaces is starting on http://127.0.0.1:$(SPACES_PORT)/ (Ctrl-C stops every process)"
	$(VENV)/bin/honcho -f Procfile start

test: deps browser-test-deps
	node --test tests/js/
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(VENV)/bin/pytest $(PYTEST_ARGS)

deps: system-deps python-deps

system-deps:
	@bash deploy/install-system-deps

python-deps: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	@touch $@

# axe-core for the accessibility tests, at the version tests/package.json pins.
browser-test-deps: tests/node_modules/.installed

tests/node_modules/.installed: tests/package.json
	npm install --prefix tests --no-audit --no-fund --no-package-lock --ignore-scripts --silent
	@touch $@

bench: deps
	$(PY) bench/fanout.py
	$(PY) bench/start_lateness.py
	$(PY) bench/audio_latency.py
	$(PY) bench/media_enforcement.py
	$(PY) bench/janus_listeners.py
	$(PY) bench/join_storm.py
	$(PY) bench/toggle_storm.py
	$(PY) bench/daphne_floor.py --clients 10000 --repeat 1
	$(PY) bench/captions.py --rounds 2

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache test-artifacts tests/node_modules
