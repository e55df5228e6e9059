# cython: language_level=3
"""Smallest compiled module: proves the extension build ran (``persistkit --version``)."""

def built_with() -> str:
    import Cython
    return "cython"
