"""RDB snapshots: a streaming reader, a writer, verification, and DUMP payloads."""
