#!/usr/bin/env bash
# Set up everything the project needs on a fresh Debian/Ubuntu machine:
# the Debian services it drives (redis-server, prometheus + promtool,
# prometheus-alertmanager + amtool) and a virtual environment with the project.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

# Debian package -> a binary it provides.
declare -A PROVIDES=(
  [redis-server]=redis-server
  [prometheus]=promtool
  [prometheus-alertmanager]=amtool
)
missing=()
for pkg in "${!PROVIDES[@]}"; do
  command -v "${PROVIDES[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}." >&2
    echo "setup: run as root, or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.amc-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[test]'
  touch "$stamp"
fi
echo "setup: ready ($VENV)"
