"""Offline recovery on top of the engine's keyspace: replay, merge, diff."""
