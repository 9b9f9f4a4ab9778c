# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: run test lint format unit functional integration e2e clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m local run

test: $(STAMP) lint chromium
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

unit functional integration e2e: $(STAMP)
	$(BIN)/python -m pytest tests/$@

# The browser tests drive Debian's Chromium (Playwright never downloads one).
.PHONY: chromium browser
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get install -y chromium || { $$SUDO apt-get update && $$SUDO apt-get install -y chromium; }; }

browser: $(STAMP) chromium
	$(BIN)/python -m pytest tests/browser

# The CDK app: synthesized offline into infra/cdk.out/, deployed by the CDK CLI.
CDK := npx --yes aws-cdk@2.1148.1
.PHONY: synth deploy

synth: $(STAMP)
	$(BIN)/python infra/app.py infra/cdk.out

deploy: synth
	$(CDK) deploy --app infra/cdk.out --require-approval broadening

# Measurements, written into bench/README.md (never asserted in tests).
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python bench/transport.py
	$(BIN)/python -m bench.gateway_vs_litellm

clean:
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache
