#!/bin/sh
# Every benchmark, one after another (they must not overlap: each one times itself).
# Data first: python3 bench/gen_rdb.py && python3 bench/gen_aof.py (resumable).
# Extra arguments (e.g. --persistkit-only) go to the scripts that take them (not run_engine).
cd "$(dirname "$0")" || exit 2
python3 machine.py
for s in run_rdb run_aof run_convert; do
    echo "=== $s $(date -u +%H:%M:%S)"
    python3 $s.py "$@"
done
echo "=== run_engine $(date -u +%H:%M:%S)"
python3 run_engine.py
echo "=== run_merge $(date -u +%H:%M:%S)"
python3 run_merge.py "$@"
echo "=== done $(date -u +%H:%M:%S)"
