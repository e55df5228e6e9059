"""AOF logs: plain RESP, single-file hybrid and Redis 7 multi-part (manifest) sets."""
