"""The encoding layer shared by the RDB and AOF tools: codecs only, no I/O
(``fileio`` is the one edge that opens files)."""
