"""A stand-in for an attacker's gadget: callables that leave a canary file when called.

Forged rows in the deserialization tests name these (as a real exploit names
`os.system` or `builtins.exec`). Under LangGraph's permissive decoder they run; under
zerograph's they must not, so the canary file is the proof either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def touch(path: str, *_: Any) -> str:
    Path(path).write_text("the payload ran")
    return "pwned"


class Canary:
    """Its constructor (with any argument shape) and its classmethod leave the canary."""

    def __init__(self, path: str = "", *args: Any, **kwargs: Any) -> None:
        touch(path or kwargs.get("path", ""))

    @classmethod
    def create(cls, path: str) -> Canary:
        return cls(path)
