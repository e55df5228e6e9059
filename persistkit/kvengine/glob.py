"""Redis glob patterns for the engine's KEYS / SCAN MATCH / CONFIG GET: the one matcher
lives in ``persistkit.kvencoding.glob`` (format code shares it and never imports the
engine); this name stays for the engine's modules."""

from persistkit.kvencoding.glob import compile_glob, glob_match, key_matcher  # noqa: F401

__all__ = ["compile_glob", "glob_match", "key_matcher"]
