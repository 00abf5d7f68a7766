# The two commands of the README:
#   make demo   set up, then run the whole system (the local stack)
#   make test   set up, then run linters, type checks and the test suite
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test lint demo bench clean

setup:
	scripts/setup.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

demo: setup
	$(BIN)/amc-sandbox up

clean:
	rm -rf .run .mypy_cache .pytest_cache .ruff_cache
