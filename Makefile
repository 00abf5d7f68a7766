# Shortcuts for the README's two commands (which need no make themselves).
.PHONY: setup test demo bench dashboards clean

setup:
	scripts/setup.sh

test:
	scripts/test.sh

demo:
	scripts/demo.sh

# The benchmarks (bench/README.md): run them on a quiet machine.
bench: setup
	.venv/bin/python -m bench.scrape
	.venv/bin/python -m bench.webhook
	.venv/bin/python -m bench.loop
	.venv/bin/python -m bench.soak

# The dashboards' JSON from their code (grafana/README.md); commit the result.
dashboards: setup
	.venv/bin/python -m grafana.generate

clean:
	rm -rf .run .mypy_cache .pytest_cache .ruff_cache
