"""Building blocks of the embedded SQLite backend: connections, schema, filter pushdown."""
