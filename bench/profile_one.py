"""Profile one saver on one workload: where does its time go?

    .venv/bin/python bench/profile_one.py agent --pair sqlite                 # zerograph's side
    .venv/bin/python bench/profile_one.py storage --pair sqlite --side theirs --sort tottime

Runs the workload's measurement once untimed (to build its data and warm caches), then
once more (same code as bench/run.py) under cProfile, and
prints the top functions. cProfile sees the calling thread only: for a sync saver that
is all of its work; an async saver's work runs in worker threads and shows up as waiting.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.workloads import SCALES, WORKLOADS, warmup


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", choices=[w.name for w in WORKLOADS])
    ap.add_argument("--pair", default="sqlite")
    ap.add_argument("--side", choices=["ours", "theirs"], default="ours")
    ap.add_argument("--scale", choices=list(SCALES), default="full")
    ap.add_argument("--sort", default="cumulative", help="pstats sort key (cumulative, tottime, ...)")
    ap.add_argument("--limit", type=int, default=35)
    ap.add_argument("--filter", default="", help="only show functions whose location matches this regex")
    args = ap.parse_args()
    scale = SCALES[args.scale]
    workload = next(w for w in WORKLOADS if w.name == args.workload)
    ns = argparse.Namespace(pairs=[args.pair], baseline=False)
    comps = workload.selected(scale, ns)
    if not comps:
        ap.error(f"workload {workload.name} has no pair {args.pair!r}; it has {workload.pairs}")
    contender = getattr(comps[0], args.side)
    root = Path(tempfile.mkdtemp(prefix="zerograph-profile-"))
    try:
        warmup(root)
        (root / "untimed").mkdir()
        contender.measure(root / "untimed" / "bench.db", scale)  # builds the data, warms caches
        work = root / "run"
        work.mkdir()
        profiler = cProfile.Profile()
        profiler.enable()
        result = contender.measure(work / "bench.db", scale)
        profiler.disable()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{workload.name} / {comps[0].key} / {contender.label} at scale {scale.name}: {result}")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(args.sort)
    if args.filter:
        stats.print_stats(args.filter, args.limit)
    else:
        stats.print_stats(args.limit)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
