#!/usr/bin/env bash
# Run the whole test suite on a fresh Debian machine with python3.
# Installs the real redis-server (the tests' oracle) when run as root, makes a
# virtualenv in .venv with persistkit and its test extras, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "note: redis-server is not installed; real-Redis tests will be skipped." >&2
    echo "      install it with: sudo apt-get install -y redis-server" >&2
  fi
fi
# A C compiler builds the compiled accelerator; without one persistkit installs on its
# pure-Python path (slower, same results).
if ! command -v cc >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential >/dev/null || true
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv .venv; }
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[test,lzf]' 2>/dev/null || .venv/bin/python -m pip install -q -e '.[test]'
# Byte-compile once: environments with PYTHONDONTWRITEBYTECODE=1 would otherwise
# recompile every module in every subprocess the tests and the tour start.
.venv/bin/python -m compileall -q persistkit >/dev/null 2>&1 || true
exec .venv/bin/python -m pytest -q "$@"
