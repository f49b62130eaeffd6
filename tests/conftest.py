"""Shared fixtures: every backend, in both flavours, built the same way.

`make_saver(backend, flavour, tmp_path)` is the one place tests create savers, so a new
backend joins every contract, conformance and graph test by being added to BACKENDS.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BACKENDS = ["memory", "sqlite-file", "sqlite-memory"]
FLAVOURS = ["sync", "async"]


def make_saver(backend: str, flavour: str, tmp_path: Path, **kwargs: Any) -> Any:
    """A fresh saver of `backend`; the async flavour of SQLite is `AsyncSqliteSaver`."""
    if backend == "memory":
        from zerograph.checkpoint.memory import InMemorySaver

        return InMemorySaver(**kwargs)
    from zerograph.checkpoint.sqlite import AsyncSqliteSaver, SqliteSaver

    cls = AsyncSqliteSaver if flavour == "async" else SqliteSaver
    if backend == "sqlite-file":
        return cls(tmp_path / "checkpoints.db", **kwargs)
    if backend == "sqlite-memory":
        return cls(":memory:", **kwargs)
    raise ValueError(f"unknown backend {backend}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def saver(backend: str, flavour: str, tmp_path: Path) -> Iterator[Any]:
    """A fresh saver for each backend x flavour, closed afterwards."""
    s = make_saver(backend, flavour, tmp_path)
    yield s
    s.close()
