#!/usr/bin/env bash
# The persistkit tour: sets up .venv (as test.sh does) and runs `persistkit tour`
# on the bundled fixtures and the bundled engine.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv .venv; }
fi
.venv/bin/python -m pip install -q -e '.[lzf]' 2>/dev/null || .venv/bin/python -m pip install -q -e .
# Byte-compile once: environments with PYTHONDONTWRITEBYTECODE=1 would otherwise
# recompile every module in every subprocess the tests and the tour start.
.venv/bin/python -m compileall -q persistkit >/dev/null 2>&1 || true
exec .venv/bin/persistkit tour "$@"
