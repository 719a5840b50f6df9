# nfhub — `make run` starts the whole stack locally, `make test` runs everything CI runs.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# uv: the one on PATH, else ~/.local/bin/uv, else the uv module of $(PYTHON) (where `make setup`
# puts it with pip --user). Recursive (=) on purpose: resolved again after setup installed it.
UV = $(or $(shell command -v uv 2>/dev/null),$(wildcard $(HOME)/.local/bin/uv),$(PYTHON) -m uv)
UV_RUN = $(UV) run --frozen
# Extra pytest arguments: make test PYTEST_ARGS="-k tokens -x"
PYTEST_ARGS ?=
# pytest-xdist workers. Much of a test's time is waiting (PostgreSQL, child processes, the real
# stacks), so twice the 2 cores of the reference machine; 0 runs serially.
PYTEST_WORKERS ?= 4
# Which tests (-m): all of them by default; test-fast leaves out the real processes.
PYTEST_MARKERS ?=
FAST_MARKERS := not e2e and not live and not deploy and not browser and not slurm
# Extra devstack arguments: make run RUN_ARGS="--no-echo"; make run HTTP=1 serves plain HTTP
HTTP ?=
RUN_ARGS ?=
MYPY_PATHS := shared/src $(wildcard services/*/src) cli/src scripts bench
# Python keeps the bytecode it compiles (__pycache__, ignored by git). With
# PYTHONDONTWRITEBYTECODE set (some shells and CI images set it), every process of the suite
# (xdist workers, each service of every live stack, CLI runs) compiles every module it imports
# again, at every start.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help setup uv run demo test test-fast pytest lint format openapi openapi-check bench \
	screenshots

help:
	@echo "make setup          install uv if needed, then the locked environment (.venv)"
	@echo "make run            start PostgreSQL and every service over HTTPS, seed demo data (Ctrl-C stops)"
	@echo "make demo           against a running make run: upload, samples, order, run, outputs"
	@echo "make test           tests, OpenAPI drift check and lint: what CI runs"
	@echo "                    (PYTEST_WORKERS=4 pytest-xdist workers; PYTEST_ARGS=... for pytest)"
	@echo "make test-fast      the unit and in-process tests only, for the inner loop:"
	@echo "                    no e2e, live, deploy, browser or slurm tests (markers, pyproject)"
	@echo "make lint           ruff check, ruff format --check, mypy, layering contracts (lint-imports)"
	@echo "make format         ruff check --fix, ruff format"
	@echo "make openapi        regenerate openapi/<service>.json"
	@echo "make openapi-check  fail when openapi/ differs from the code"
	@echo "make bench          run the benchmarks (bench/load.py apart: it loads a whole stack)"
	@echo "make screenshots    the README's pictures of the web app (docs/screenshots), by its"
	@echo "                    browser tests in headless Chromium"

setup: uv
	$(UV) sync --frozen

uv:
	@if ! $(UV) --version >/dev/null 2>&1; then \
	  echo "uv not found: installing it with pip --user"; \
	  $(PYTHON) -m pip install --user --quiet uv 2>/dev/null \
	    || $(PYTHON) -m pip install --user --quiet --break-system-packages uv; \
	fi
	@$(UV) --version >/dev/null 2>&1 || { echo "uv is still missing"; exit 1; }

run: setup
	$(UV_RUN) python scripts/devstack.py run $(if $(filter 1 true yes,$(HTTP)),--http) $(RUN_ARGS)

# The guided demo, in a second shell while `make run` runs (nfhub demo reads its stack.json).
demo: setup
	$(UV_RUN) nfhub demo --stack "$${NFHUB_STATE_DIR:-.nfhub}/stack.json"

# The OpenAPI check and lint (~17 s of CPU from a clean clone, mypy's most of it) run beside
# pytest, in the CPU its workers leave idle (the last long tests of the run); their output comes
# after pytest's, and make test fails when either part does.
test: setup
	@checks=$$(mktemp); \
	{ $(MAKE) --no-print-directory openapi-check && $(MAKE) --no-print-directory lint; } \
	  >"$$checks" 2>&1 & checks_pid=$$!; \
	tests_rc=0; $(MAKE) --no-print-directory pytest || tests_rc=$$?; \
	checks_rc=0; wait $$checks_pid || checks_rc=$$?; \
	cat "$$checks"; rm -f "$$checks"; \
	if [ $$checks_rc -ne 0 ]; then echo "make test: the OpenAPI check or lint failed"; fi; \
	[ $$tests_rc -eq 0 ] && [ $$checks_rc -eq 0 ]

test-fast: setup
	$(MAKE) --no-print-directory pytest PYTEST_MARKERS="$(FAST_MARKERS)"

# pytest exits 5 when it collects nothing; that is reported, not treated as a failure.
pytest:
	@rc=0; $(UV_RUN) pytest -n $(PYTEST_WORKERS) $(if $(PYTEST_MARKERS),-m "$(PYTEST_MARKERS)") \
	  $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi

lint:
	$(UV_RUN) ruff check .
	$(UV_RUN) ruff format --check .
	$(UV_RUN) mypy $(MYPY_PATHS)
	$(UV_RUN) lint-imports

format:
	$(UV_RUN) ruff check --fix .
	$(UV_RUN) ruff format .

openapi:
	$(UV_RUN) python scripts/openapi.py write

openapi-check:
	$(UV_RUN) python scripts/openapi.py check

bench:
	$(UV_RUN) python bench/auth.py
	$(UV_RUN) python bench/files.py
	$(UV_RUN) python bench/compute.py
	$(UV_RUN) python bench/logship.py
	$(UV_RUN) python bench/metrics.py
	$(UV_RUN) python bench/stream.py
	$(UV_RUN) python bench/webhooks.py
	$(UV_RUN) python bench/miner.py
	$(UV_RUN) python bench/wes.py
	$(UV_RUN) python bench/web.py

# The README's screenshots of the web app: its browser tests (one shared stack, in file order)
# save each page they name with support.browser.screenshot(page, "<name>") as
# $(SCREENSHOTS_DIR)/<name>.png; tests/web/test_screenshots.py checks the README shows no other.
SCREENSHOTS_DIR := docs/screenshots
SCREENSHOT_TESTS := tests/e2e/test_web*.py
screenshots: setup
	NFHUB_SCREENSHOTS_DIR="$(CURDIR)/$(SCREENSHOTS_DIR)" $(UV_RUN) pytest -n 0 -p no:randomly \
	  -m browser $(wildcard $(SCREENSHOT_TESTS)) $(PYTEST_ARGS)
