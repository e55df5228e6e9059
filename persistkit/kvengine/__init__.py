"""The bundled reference engine: keyspace, command table, persistence, RESP server."""
