"""Compiled (Cython) twins of persistkit's hot loops; see ``persistkit.accel``."""
