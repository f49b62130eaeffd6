"""Medians, spreads, ratios, the Markdown tables and the issue #4 target check."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

RATIO_NOTE = (
    "ratio: > 1 means zerograph is better. Throughput (steps/s) is ours / theirs; "
    "times and bytes are theirs / ours. `ratio` is the ratio of the two medians; "
    "`per-rep` is the range of the ratios of each repetition's back-to-back pair of runs. "
    "spread = max - min over the repetitions."
)

PACKAGES = ["zerograph", "langgraph", "langgraph-checkpoint", "langgraph-checkpoint-sqlite",
            "langchain-core", "aiosqlite", "ormsgpack"]


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=False)
            return done.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = git("status", "--porcelain", "--", "zerograph")
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "zerograph_tree": "uncommitted changes in zerograph/" if dirty else "clean",
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "",
    }


def machine_lines(m: dict[str, Any]) -> list[str]:
    pk = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    return [
        f"- CPU: {m['cpu']} ({m['nproc']} cores as seen by the process), {m['platform']}",
        f"- Python {m['python']}, SQLite {m['sqlite']}",
        f"- Packages: {pk}",
        f"- zerograph: commit {m['git_commit']} ({m['zerograph_tree']})",
        f"- Load average at start: {m['load_average']}",
    ]


@dataclass
class Cell:
    median: float | None
    spread: float | None
    n: int
    error: str | None = None


def cell(samples: list[dict[str, Any]], key: str) -> Cell:
    errors = [s["error"] for s in samples if "error" in s]
    values = [s[key] for s in samples if "error" not in s and key in s]
    if not values:
        return Cell(None, None, 0, errors[0] if errors else None)
    return Cell(statistics.median(values), max(values) - min(values), len(values), errors[0] if errors else None)


def ratio(ours: Cell, theirs: Cell, higher_is_better: bool) -> float | None:
    if ours.median is None or theirs.median is None or ours.median == 0 or theirs.median == 0:
        return None
    return ours.median / theirs.median if higher_is_better else theirs.median / ours.median


def paired_ratios(comp: dict[str, Any], key: str, higher_is_better: bool) -> list[float]:
    """The ratio of each repetition's two runs (ours and theirs ran back to back)."""
    if not comp["theirs"]:
        return []
    out = []
    for o, t in zip(comp["ours"]["samples"], comp["theirs"]["samples"]):
        r = ratio(Cell(o.get(key), None, 1), Cell(t.get(key), None, 1), higher_is_better)
        if r is not None:
            out.append(r)
    return out


def _fmt(fmt: str, value: float | None) -> str:
    return "n/a" if value is None else fmt.format(value)


def workload_table(workload: Any, result: dict[str, Any]) -> list[str]:
    lines = [f"### {workload.title}", ""]
    if result.get("describe"):
        lines += [f"{result['describe']}.", ""]
    lines += [
        "| pair | figure | unit | zerograph | spread | theirs | spread | ratio | per-rep |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    legend, notes = [], []
    for comp in result["comparisons"]:
        theirs_label = comp["theirs"]["label"] if comp["theirs"] else "(no equivalent)"
        legend.append(f"- `{comp['key']}`: {comp['ours']['label']} vs {theirs_label}"
                      + (f". {comp['note']}" if comp.get("note") else ""))
        for metric in workload.metrics:
            ours = cell(comp["ours"]["samples"], metric.key)
            theirs = cell(comp["theirs"]["samples"], metric.key) if comp["theirs"] else Cell(None, None, 0)
            if ours.median is None and theirs.median is None and not ours.error and not theirs.error:
                continue
            r = ratio(ours, theirs, metric.higher_is_better)
            o = "ERROR" if ours.error and ours.median is None else _fmt(metric.fmt, ours.median)
            t = "ERROR" if theirs.error and theirs.median is None else _fmt(metric.fmt, theirs.median)
            paired = paired_ratios(comp, metric.key, metric.higher_is_better)
            rng = f"{min(paired):.2f}-{max(paired):.2f}" if paired else "n/a"
            lines.append(
                f"| {comp['key']} | {metric.label} | {metric.unit} | {o} | {_fmt(metric.fmt, ours.spread)} "
                f"| {t} | {_fmt(metric.fmt, theirs.spread)} | {_fmt('{:.2f}x', r)} | {rng} |"
            )
            for side, c in (("zerograph", ours), ("theirs", theirs)):
                if c.error:
                    notes.append(f"- ERROR in `{comp['key']}` ({side}, {c.n} good sample(s)): {c.error}")
    lines += ["", *legend, *dict.fromkeys(notes), ""]
    return lines


# --- issue #4 targets --------------------------------------------------------------------


def _get(results: dict[str, Any], workload: str, comp_key: str, side: str, metric: str) -> Cell:
    for comp in results.get(workload, {}).get("comparisons", []):
        if comp["key"] == comp_key and comp[side]:
            return cell(comp[side]["samples"], metric)
    return Cell(None, None, 0)


def _ratio(results: dict[str, Any], workload: str, comp_key: str, metric: str, higher: bool) -> float | None:
    return ratio(_get(results, workload, comp_key, "ours", metric),
                 _get(results, workload, comp_key, "theirs", metric), higher)


def _paired(results: dict[str, Any], workload: str, comp_key: str, metric: str, higher: bool) -> list[float]:
    for comp in results.get(workload, {}).get("comparisons", []):
        if comp["key"] == comp_key:
            return paired_ratios(comp, metric, higher)
    return []


def _samples(results: dict[str, Any], workload: str, comp_key: str, side: str, metric: str) -> list[float]:
    for comp in results.get(workload, {}).get("comparisons", []):
        if comp["key"] == comp_key and comp[side]:
            return [x[metric] for x in comp[side]["samples"] if metric in x]
    return []


def targets(results: dict[str, Any], scale: Any) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) for every target of issue #4 the run covered.

    The verdict compares the median figure with the target. When the repetitions
    disagree (some per-repetition figures meet the target, some do not), it says
    "not settled": the machine's noise decides that one, not the code."""
    out: list[tuple[str, str, str]] = []

    def check(name: str, value: float | None, ok: Any, shown: str, per_rep: Sequence[float] = ()) -> None:
        if value is None:
            out.append((name, "not measured in this run", "n/a"))
            return
        text = shown.format(value)
        if len(per_rep) > 1:
            text += f" (per-rep {min(per_rep):.2f}-{max(per_rep):.2f})"
        verdict = "met" if ok(value) else "MISSED"
        hits = sum(1 for v in per_rep if ok(v))
        if len(per_rep) > 1 and 0 < hits < len(per_rep):
            verdict += f", not settled ({hits} of {len(per_rep)} repetitions meet it)"
        out.append((name, text, verdict))

    def ratio_check(name: str, workload: str, comp: str, metric: str, higher: bool, ok: Any,
                    shown: str = "{:.2f}x") -> None:
        check(name, _ratio(results, workload, comp, metric, higher), ok, shown,
              _paired(results, workload, comp, metric, higher))

    ratio_check("Agent thread: SqliteSaver >= 2x LangGraph's SqliteSaver (steps/s)",
                "agent", "sqlite", "steps_per_s", True, lambda v: v >= 2)
    r = _ratio(results, "agent", "sqlite-full", "steps_per_s", True)
    if r is not None:
        out.append(("  (same, both at synchronous=FULL; informational)", f"{r:.2f}x", "-"))
    ratio_check("Agent thread: AsyncSqliteSaver >= 3x LangGraph's AsyncSqliteSaver",
                "agent", "async", "steps_per_s", True, lambda v: v >= 3)
    a = _get(results, "agent", "async", "ours", "steps_per_s").median
    s = _get(results, "agent", "sqlite", "ours", "steps_per_s").median
    per_rep = [x / y for x, y in zip(_samples(results, "agent", "async", "ours", "steps_per_s"),
                                     _samples(results, "agent", "sqlite", "ours", "steps_per_s"))]
    check("Agent thread: our AsyncSqliteSaver >= 0.9x our SqliteSaver", a / s if a and s else None,
          lambda v: v >= 0.9, "{:.2f}x", per_rep)
    ratio_check("Agent thread: InMemorySaver >= 1x LangGraph's InMemorySaver",
                "agent", "memory", "steps_per_s", True, lambda v: v >= 1)
    ratio_check("Write path: SqliteSaver at or above the raw floor (sqlite3 I/O only)",
                "write", "floor", "steps_per_s", True, lambda v: v >= 1, "{:.2f}x the floor")
    r = _ratio(results, "write", "floor+serde", "steps_per_s", True)
    if r is not None:
        out.append(("  (vs the floor including serialization; informational)", f"{r:.2f}x", "-"))
    o = _get(results, "e2e", "sqlite", "ours", "overhead").median
    t = _get(results, "e2e", "sqlite", "theirs", "overhead").median
    check("End to end: SqliteSaver with/without <= 2.5x", o, lambda v: v <= 2.5,
          "{:.2f}x" + (f", LangGraph's SqliteSaver {t:.2f}x" if t else ""),
          _samples(results, "e2e", "sqlite", "ours", "overhead"))
    ratio_check("Storage after the agent thread: <= 1/10 of LangGraph's SqliteSaver",
                "storage", "sqlite", "bytes", False, lambda v: v >= 10, "LangGraph's is {:.1f}x larger")
    g = _ratio(results, "storage", "sqlite", "get_latest_ms", False)
    lst = _ratio(results, "storage", "sqlite", "list10_ms", False)
    if g is not None or lst is not None:
        out.append(("  (read speed of that file, get_tuple(latest) and list(limit=10); informational)",
                    f"{_fmt('{:.2f}x', g)}, {_fmt('{:.2f}x', lst)}", "-"))
    ratio_check("History: list all >= 2x faster than LangGraph's SqliteSaver",
                "history", "sqlite", "list_all_ms", False, lambda v: v >= 2)
    for key, what in (("filter_source_ms", "source=input"), ("filter_run_ms", "run_id")):
        ratio_check(f"History: list with a metadata filter ({what}) >= 5x faster",
                    "history", "sqlite", key, False, lambda v: v >= 5)
    g = _get(results, "delete", "memory", "ours", "growth").median
    gt = _get(results, "delete", "memory", "theirs", "growth").median
    check("InMemorySaver: delete_thread cost independent of other threads (growth <= 1.5x at 10x threads)",
          g, lambda v: v <= 1.5, "{:.2f}x" + (f", LangGraph's {gt:.2f}x" if gt else ""),
          _samples(results, "delete", "memory", "ours", "growth"))
    first = _get(results, "list_threads", "sqlite", "ours", "first_page_ms").median
    full_size = scale.lt_threads >= 1500 and scale.lt_checkpoints >= 200_000
    if first is None:
        out.append(("list_threads over 1,500 threads / 200,000 checkpoints < 50 ms", "not measured", "n/a"))
    elif full_size:
        check("list_threads over 1,500 threads / 200,000 checkpoints < 50 ms (first page of 100)", first,
              lambda v: v < 50, "{:.2f} ms", _samples(results, "list_threads", "sqlite", "ours", "first_page_ms"))
    else:
        out.append(("list_threads over 1,500 threads / 200,000 checkpoints < 50 ms",
                    f"{first:.2f} ms at {scale.lt_threads:,} threads / {scale.lt_checkpoints:,} checkpoints",
                    "not evaluated (needs --scale full)"))
    return out


def targets_table(rows: list[tuple[str, str, str]], scale: Any, reps: int) -> list[str]:
    if scale.name == "full":
        lines = ["At the issue's sizes (`--scale full`).", ""]
    else:
        lines = [
            (f"At `--scale {scale.name}`, smaller than the issue's sizes (agent thread {scale.agent_steps} steps "
             f"instead of 200, history {scale.history} checkpoints instead of 1,000, {reps} repetition(s)): "
             "indicative only; the verdicts that count come from `--scale full`."),
            "",
        ]
    lines += ["| target (issue #4) | measured | verdict |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return lines + [""]
