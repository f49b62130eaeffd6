"""Checkpoint savers: `memory.InMemorySaver`, `sqlite.SqliteSaver`, `sqlite.AsyncSqliteSaver`."""
