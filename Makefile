# Shortcuts for the README's two commands (which need no make themselves).
.PHONY: setup test demo clean

setup:
	scripts/setup.sh

test:
	scripts/test.sh

demo:
	scripts/demo.sh

clean:
	rm -rf .run .mypy_cache .pytest_cache .ruff_cache
