#!/usr/bin/env bash
# Set up everything the project needs on a fresh Debian/Ubuntu machine: the Debian
# programs it drives (redis-server, prometheus + promtool, prometheus-alertmanager + amtool,
# mtail, wrk (the load generator of bench/webhook.py) and docker-compose (which checks
# docker-compose.yml; no container engine is needed)) and a virtual environment with the
# project and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

# Debian package -> a binary it provides.
declare -A PROVIDES=(
  [redis-server]=redis-server
  [prometheus]=promtool
  [prometheus-alertmanager]=amtool
  [mtail]=mtail
  [wrk]=wrk
  [docker-compose]=docker-compose
)

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: Python >= 3.11 is needed; $PYTHON is $("$PYTHON" --version 2>&1 || echo missing)." >&2
  echo "setup: set PYTHON=/path/to/python3.11 (or newer) and run again." >&2
  exit 1
fi

missing=()
for pkg in "${!PROVIDES[@]}"; do
  command -v "${PROVIDES[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ! -x "$VENV/bin/python" ] && ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=(python3-venv)
fi

if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}." >&2
    echo "setup: run as root, or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]} with apt-get"
  # The packages would start their own services (on ports the local stack uses): this
  # project starts what it needs itself, so keep them from starting, now and at boot.
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1
  fi
  trap '[ -n "$own_policy" ] && rm -f "$policy"' EXIT
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [ -d /run/systemd/system ]; then
    for pkg in "${missing[@]}"; do
      case "$pkg" in
        redis-server|prometheus|prometheus-alertmanager|mtail)
          systemctl disable --now "$pkg" >/dev/null 2>&1 || true ;;
      esac
    done
  fi
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
