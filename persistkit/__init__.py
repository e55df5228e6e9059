"""persistkit: audit, convert and recover Redis / Valkey persistence files."""

__version__ = "0.1.0"
