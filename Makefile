# pindai: `make run` (set up everything, then read the sample batch) and `make test`.
# Set-up is idempotent: a second `make run` skips what is installed already.
SHELL := /bin/bash
.DEFAULT_GOAL := run
VENV := .venv
PY := $(VENV)/bin/python
PINDAI := $(VENV)/bin/pindai
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180
export OMP_THREAD_LIMIT := 1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := tesseract-ocr tesseract-ocr-ind poppler-utils fonts-dejavu-core chromium chromium-driver postgresql
STAMP_SYS := .state/system.ok
STAMP_VENV := .state/venv-$(shell cat pyproject.toml | sha256sum | cut -c1-12).ok
STAMP_DB := .state/prefect-db.ok
SAMPLES := samples
RELEASES := releases

.PHONY: run test setup system venv prefect-db samples model bench fuzz ui lint clean unseen

setup: $(STAMP_SYS) $(STAMP_VENV) $(STAMP_DB)

$(STAMP_SYS):
	@mkdir -p .state
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@touch $@

$(STAMP_VENV):
	@mkdir -p .state
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	@echo "installing pindai into $(VENV)"
	@$(PY) -m pip install -q --upgrade pip >/dev/null
	@$(PY) -m pip install -q -e '.[dev]'
	@rm -f .state/venv-*.ok && touch $@

$(STAMP_DB): $(STAMP_VENV)
	@echo "migrating the project-local Prefect database ($(PREFECT_HOME))"
	@$(VENV)/bin/prefect server database upgrade -y >/dev/null
	@touch $@

run: setup
	@if [ -z "$$(ls -A $(SAMPLES) 2>/dev/null | grep -v README)" ]; then \
	  echo "generating the sample batch into $(SAMPLES)/"; $(PINDAI) generate $(SAMPLES) --forms 6 --seed 4 --province 32 \
	    --form-type ppwp --form-type ppwp-salinan --form-type dpr --form-type dhasil-ppwp --quality mixed \
	    --inconsistent-rate 0.2; fi
	@$(PINDAI) run $(SAMPLES) --out $(RELEASES) --register schemas/data/register-mini.json

# The tests also exercise `pindai model update`, which trains with torch (the `train` extra: a test and
# training dependency, never a run-time one, so `make run` does not install it).
STAMP_TRAIN := .state/train-$(shell cat pyproject.toml | sha256sum | cut -c1-12).ok

$(STAMP_TRAIN): $(STAMP_VENV)
	@echo "installing the train extra (torch, CPU) for the tests"
	@$(PY) -m pip install -q -e '.[dev,train]'
	@touch $@

test: setup $(STAMP_TRAIN)
	@$(PY) -m pytest -q

# Training only: torch (the `train` extra) and handwriting-like fonts for synthetic digits.
MODEL_FONTS := fonts-dancingscript fonts-kristi fonts-comic-neue fonts-humor-sans fonts-breip

model: setup
	@missing=""; for p in $(MODEL_FONTS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi
	@$(PY) -m pip install -q -e '.[dev,train]'
	@PY=$(PY) bash scripts/make_model.sh

bench: setup
	@$(PY) scripts/bench.py

unseen: setup
	@$(PY) scripts/unseen_writers.py

fuzz: setup
	@$(PY) scripts/fuzz.py --cases 1000

ui: setup
	@echo "Prefect UI on http://127.0.0.1:4200 (set PREFECT_API_URL=http://127.0.0.1:4200/api in the shell that runs pindai)"
	@$(VENV)/bin/prefect server start --host 127.0.0.1 --port 4200

lint: setup
	@$(VENV)/bin/ruff check .

clean:
	rm -rf $(RELEASES) .pytest_cache .ruff_cache
