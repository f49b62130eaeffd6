"""The docs are tested: every ```python block in README.md and docs/ runs, and so does the demo.

A block runs with `exec` in a fresh namespace, in its own temporary working directory,
so each one must be self-contained (its own imports, graph and database). Blocks that
are not meant to run use a ```bash or ```text fence.
"""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """`(line, source)` of each ```python block in a Markdown file; line is the fence's."""
    blocks: list[tuple[int, str]] = []
    lang: str | None = None
    start, body = 0, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if lang is None and match:
            lang, start, body = match.group(1), number, []
        elif lang is not None and line.strip() == "```":
            if lang == "python":
                blocks.append((start, "\n".join(body) + "\n"))
            lang = None
        elif lang is not None:
            body.append(line)
    assert lang is None, f"{path}: unclosed ``` fence opened at line {start}"
    return blocks


def fence_languages(path: Path) -> list[tuple[int, str]]:
    """`(line, language)` of every opening fence in a Markdown file."""
    found, inside = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if match and not inside:
            found.append((number, match.group(1)))
            inside = True
        elif inside and line.strip() == "```":
            inside = False
    return found


BLOCKS = [
    pytest.param(path, line, source, id=f"{path.relative_to(ROOT)}:{line}")
    for path in DOC_FILES
    for line, source in python_blocks(path)
]


def test_docs_exist() -> None:
    """The README and the docs pages exist and hold runnable examples."""
    assert {p.relative_to(ROOT).as_posix() for p in DOC_FILES} >= {
        "README.md",
        "docs/quickstart.md",
        "docs/backends/memory.md",
        "docs/backends/sqlite.md",
        "docs/async.md",
        "docs/design.md",
        "docs/errors.md",
    }
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fences_are_labelled(path: Path) -> None:
    """A block is either run (python) or marked as not runnable (bash, text)."""
    for line, lang in fence_languages(path):
        assert lang in {"python", "bash", "text"}, f"{path.name}:{line}: fence ```{lang}"


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    headings = re.findall(r"^#+\s+(.+)$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    """Every relative link in the docs names an existing file (and heading, if it has #)."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        assert dest.is_file(), f"{path.name}: link to missing {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in _anchors(dest), f"{path.name}: no heading #{anchor} in {dest.name}"


@pytest.mark.parametrize(("path", "line", "source"), BLOCKS)
def test_python_block_runs(
    path: Path, line: int, source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ```python block from the docs runs as-is, without errors or warnings."""
    monkeypatch.chdir(tmp_path)
    # A real module, as if the block were a script: typing resolves names through it.
    module = types.ModuleType("__docs_example__")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    # dont_inherit: this file's `from __future__ import annotations` must not leak in.
    code = compile(source, f"{path.relative_to(ROOT)}:{line}", "exec", dont_inherit=True)
    exec(code, module.__dict__)


def test_demo_runs(tmp_path: Path) -> None:
    """`make demo`'s script pauses at the interrupt, resumes, and prints the history."""
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "examples" / "demo.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "paused at node 'review'" in out
    assert "Approve this refund?" in out
    assert "'approved': True" in out and "refund sent" in out
    history = [ln.split() for ln in out.splitlines() if re.match(r"^\s*-?\d+\s+(input|loop)\s", ln)]
    assert [row[0] for row in history] == ["3", "2", "1", "0", "-1"], out
    assert history[-1][1] == "input" and history[0][3] == "-"
    assert (tmp_path / "checkpoints.db").is_file()
    assert f"database: {tmp_path.resolve() / 'checkpoints.db'}" in out
