"""Agent-step throughput: zerograph's Redis savers vs langgraph-checkpoint-plainredis,
on the same redis-server, which this script starts on a free loopback port and stops.

    pip install langgraph-checkpoint-plainredis   # not a zerograph dependency
    .venv/bin/python -m bench.redis_vs_plainredis [--steps 200] [--reps 7]

One agent step is what Pregel sends a saver per superstep (bench.sim): get_tuple(latest),
two put_writes batches, one put; the values grow like a chat (add_messages). Both savers
get identical arguments and default settings; `--serde` picks each saver's default
serializer, LangGraph's JsonPlusSerializer for both (storage engine only), or both. The
savers alternate rep by rep; a figure is the median over reps. After every rep the
latest checkpoint is read back and checked, so a saver that drops data cannot look fast.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.savers import arun, run
from bench.sim import Plan, Timeline, agent_ops, check_latest


def start_server() -> Any:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.redis_servers import RedisServer

    tmp = tempfile.TemporaryDirectory(prefix="zerograph-bench-redis-")
    server = RedisServer(Path(tmp.name)).start()
    return server, tmp


def savers(url: str, flavour: str, rep: int, serde: str) -> dict[str, Any]:
    import langgraph_checkpoint_plainredis as plain
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    from zerograph.checkpoint.redis import AsyncRedisSaver, RedisSaver

    # "default": each saver's own default serializer (zerograph's strict one checks every
    # value on the way in and rebuilds only allowed types on the way out);
    # "langgraph": both on LangGraph's JsonPlusSerializer, so only the storage differs.
    kw = {"serde": JsonPlusSerializer()} if serde == "langgraph" else {}
    if flavour == "sync":
        return {
            "zerograph": RedisSaver.from_url(url, key_prefix=f"zg{serde}{rep}", **kw),
            "plainredis": plain.RedisSaver(url=url, prefix=f"lg{serde}{rep}"),
        }
    return {
        "zerograph": AsyncRedisSaver.from_url(url, key_prefix=f"zg{serde}{rep}", **kw),
        "plainredis": plain.AsyncRedisSaver(url=url, prefix=f"lg{serde}{rep}"),
    }


def one(saver: Any, flavour: str, plan: Plan, steps: int, name: str) -> float:
    """Seconds for `steps` agent steps on a fresh thread; checks the result."""
    tl = Timeline(plan, f"thread-{name}", saver.get_next_version)
    ops = agent_ops(tl, range(steps), read=True)
    if flavour == "sync":
        start = time.perf_counter()
        run(saver, ops)
        elapsed = time.perf_counter() - start
        check_latest(saver.get_tuple(tl.root_config), tl)
        return elapsed

    async def main() -> float:
        start = time.perf_counter()
        await arun(saver, ops)
        elapsed = time.perf_counter() - start
        check_latest(await saver.aget_tuple(tl.root_config), tl)
        close = getattr(saver, "aclose", None)
        if close is not None:
            await close()
        return elapsed

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--serde", choices=["default", "langgraph", "both"], default="both")
    args = parser.parse_args()
    server, tmp = start_server()
    plan = Plan.build(args.steps)
    version = server.cli("INFO", "server").split("redis_version:")[1].split()[0]
    print(f"redis-server {version} on {server.url}; {args.steps} agent steps x {args.reps} reps (median)")
    try:
        modes = ["default", "langgraph"] if args.serde == "both" else [args.serde]
        for serde, flavour in ((m, f) for m in modes for f in ("sync", "async")):
            times: dict[str, list[float]] = {"zerograph": [], "plainredis": []}
            for rep in range(args.reps):
                pair = savers(server.url, flavour, rep, serde)
                order = list(pair) if rep % 2 == 0 else list(reversed(pair))
                for name in order:
                    times[name].append(one(pair[name], flavour, plan, args.steps, f"{name}-{rep}"))
                for s in pair.values():
                    if flavour == "sync":
                        s.close()
            med = {k: args.steps / statistics.median(v) for k, v in times.items()}
            print(
                f"serde={serde:9} {flavour:5}  zerograph {med['zerograph']:8.0f} steps/s   plainredis {med['plainredis']:8.0f} steps/s"
                f"   ratio {med['zerograph'] / med['plainredis']:.2f}x"
            )
    finally:
        server.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
