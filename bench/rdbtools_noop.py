"""redis-rdb-tools 0.1.15 parse with a callback that does nothing: the parser's own cost.
Runs under bench/.venv-tools/bin/python (rdbtools is installed only there)."""
import sys

from rdbtools import RdbCallback, RdbParser


class Noop(RdbCallback):
    def __init__(self):
        super().__init__(string_escape=None)


RdbParser(Noop()).parse(sys.argv[1])
