"""SQLite savers: `SqliteSaver` (sync) and `AsyncSqliteSaver` (asyncio), one file, WAL."""

from zerograph.checkpoint.sqlite.aio import AsyncSqliteSaver
from zerograph.checkpoint.sqlite.saver import SqliteSaver

__all__ = ["AsyncSqliteSaver", "SqliteSaver"]
