#!/usr/bin/env bash
# Run the whole system: set up, then the local stack under supervisord (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec "${VENV:-.venv}/bin/amc-sandbox" up "$@"
