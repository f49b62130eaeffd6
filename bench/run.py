"""zerograph's savers vs LangGraph's, side by side (issue #4).

    .venv/bin/python bench/run.py --scale quick              # about a minute on 2 cores
    .venv/bin/python bench/run.py --scale full --json bench-full.json
    .venv/bin/python bench/run.py --only agent,storage --pairs sqlite --reps 5

Every workload runs each pair of savers in the same process, alternating
(zerograph, LangGraph, zerograph, LangGraph, ...), each repetition on a fresh saver and
a fresh temporary file. It prints, per figure, the median and spread (max - min) over
the repetitions for both, and a ratio where > 1 always means zerograph is better
(throughput: ours / theirs; times and bytes: theirs / ours). Then it checks the targets
of issue #4. Progress goes to stderr, the Markdown report to stdout (and --markdown).
See docs/performance.md for how to read it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `zerograph` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report
from bench.workloads import SCALES, WORKLOADS, Scale, warmup


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    names = [w.name for w in WORKLOADS]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=list(SCALES), default="quick",
                    help="quick: ~1 minute, same shapes, fewer steps/threads/reps; full: issue #4's sizes; "
                         "tiny: a few seconds, only checks that everything runs")
    ap.add_argument("--only", default="", help=f"comma-separated workloads: {', '.join(names)}")
    ap.add_argument("--pairs", default="", help="comma-separated comparisons to keep "
                    "(memory, sqlite, sqlite-full, async, floor, floor+serde)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default: 3 quick, 5 full)")
    ap.add_argument("--json", type=Path, default=None, help="save every raw sample here")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the report here")
    ap.add_argument("--baseline", action="store_true",
                    help="also time LangGraph's list(None)-grouped baseline for list_threads at full scale (slow)")
    ap.add_argument("--dir", type=Path, default=None, help="where the temporary databases go (default: $TMPDIR)")
    ap.add_argument("--render", type=Path, default=None, metavar="JSON",
                    help="measure nothing: print the report of a run saved with --json")
    args = ap.parse_args(argv)
    args.only = [x for x in args.only.split(",") if x]
    unknown = set(args.only) - set(names)
    if unknown:
        ap.error(f"unknown workload(s) {sorted(unknown)}; choose from {names}")
    args.pairs = [x for x in args.pairs.split(",") if x]
    return args


def render(path: Path) -> int:
    """Print the report of a saved run (same samples, current report code)."""
    saved = json.loads(path.read_text())
    scale = Scale(**saved["scale"])
    lines = [f"## zerograph benchmark: scale `{scale.name}`, {saved['reps']} repetition(s)", "",
             f"Command: `{saved['command']}` (rendered from {path.name})", "",
             *report.machine_lines(saved["machine"]), "", report.RATIO_NOTE, ""]
    for workload in WORKLOADS:
        if workload.name in saved["results"]:
            lines += report.workload_table(workload, saved["results"][workload.name])
    verdicts = report.targets(saved["results"], scale)
    lines += ["### Issue #4 targets", "", *report.targets_table(verdicts, scale, saved["reps"]),
              f"Total wall time: {saved['seconds']:.0f} s.", ""]
    print("\n".join(lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        return render(args.render)
    scale = SCALES[args.scale]
    reps = args.reps or scale.reps
    selected = [w for w in WORKLOADS if not args.only or w.name in args.only]
    machine = report.machine()
    command = "python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    root = Path(tempfile.mkdtemp(prefix="zerograph-bench-", dir=args.dir))
    started = time.perf_counter()
    results: dict[str, Any] = {}
    out: list[str] = [
        f"## zerograph benchmark: scale `{scale.name}`, {reps} repetition(s)",
        "",
        f"Command: `{command}`",
        "",
        *report.machine_lines(machine),
        "",
        report.RATIO_NOTE,
        "",
    ]
    print("\n".join(out), flush=True)
    try:
        warmup(root)
        for workload in selected:
            comps = workload.selected(scale, args)
            entry: dict[str, Any] = {
                "describe": workload.describe(scale),
                "comparisons": [
                    {"key": c.key, "note": c.note,
                     "ours": {"label": c.ours.label, "samples": []},
                     "theirs": {"label": c.theirs.label, "samples": []} if c.theirs else None}
                    for c in comps
                ],
            }
            results[workload.name] = entry
            w_start = time.perf_counter()
            for rep in range(reps):
                for c, stored in zip(comps, entry["comparisons"]):
                    for side, contender in (("ours", c.ours), ("theirs", c.theirs)):
                        if contender is None:
                            continue
                        work = root / f"{workload.name}-{c.key}-{side}-{rep}".replace("+", "_")
                        work.mkdir()
                        sample: dict[str, Any]
                        try:
                            sample = contender.measure(work / "bench.db", scale)
                        except Exception as exc:  # noqa: BLE001 - report it in the table, keep measuring the rest
                            sample = {"error": f"{type(exc).__name__}: {exc}"}
                            traceback.print_exc(file=sys.stderr)
                        finally:
                            shutil.rmtree(work, ignore_errors=True)
                        stored[side]["samples"].append(sample)
                        shown = ", ".join(
                            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sample.items()
                        )
                        print(f"  [{workload.name} {rep + 1}/{reps}] {c.key:11} {side:6} {shown}",
                              file=sys.stderr, flush=True)
            entry["seconds"] = time.perf_counter() - w_start
            table = report.workload_table(workload, entry)
            out += table
            print("\n".join(table), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    total = time.perf_counter() - started
    verdicts = report.targets(results, scale)
    per_workload = ", ".join(f"{name} {entry['seconds']:.0f} s" for name, entry in results.items())
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    tail = ["### Issue #4 targets", "", *report.targets_table(verdicts, scale, reps),
            f"Total wall time: {total:.0f} s ({per_workload}). Load average at the end: {load}.", ""]
    out += tail
    print("\n".join(tail), flush=True)
    if args.markdown:
        args.markdown.write_text("\n".join(out))
    if args.json:
        args.json.write_text(json.dumps({
            "command": command, "scale": scale.__dict__, "reps": reps, "machine": machine,
            "seconds": total, "results": results,
            "targets": [{"target": a, "measured": b, "verdict": c} for a, b, c in verdicts],
        }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
