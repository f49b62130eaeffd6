"""What Pregel hands a checkpoint saver, step by step, without running Pregel.

A ReAct-style agent thread: an input checkpoint (step -1, source "input"), then one
super-step per message. At every step two tasks write (`put_writes`, each with its
`task_path`), then the next checkpoint is `put`:

- task A is the node that ran (`agent` or `tools`): it writes the new message to
  `messages` and triggers the next node through `branch:to:<node>`;
- task B is a side task: it writes a small `events` dict, and every 5th step instead
  writes LangGraph's special `__interrupt__` channel (special writes overwrite).

The checkpoint comes from the `create_checkpoint` Pregel itself calls (a v4
checkpoint, no `pending_sends`); its `channel_values`
hold the full message list (or the last `window` messages, for threads that trim), a
`profile` dict written once at the start and never again, the `events` dict, and the
branch channel written this step; `channel_versions` get one new version per step from
the saver's own `get_next_version`, and `new_versions` names only the channels that
changed (the message list, the branch written, the branch consumed, `events`), as
Pregel does. Metadata is `{source, step, parents, run_id}`.

Messages are langchain-core messages (HumanMessage / AIMessage with a tool call and
usage metadata / ToolMessage) with ~500 characters of seeded random words, so they
serialize and compress like text, not like `"x" * 500`. Everything random is seeded:
every saver sees byte-for-byte the same values.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.base import Checkpoint
from langgraph.pregel._checkpoint import create_checkpoint  # what Pregel itself calls
from langgraph.types import Interrupt

INTERRUPT_EVERY = 5
MESSAGE_CHARS = 500


# --- text and messages ------------------------------------------------------------------


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "ve", "dor", "pan", "qui", "zel",
                 "ar", "en", "is", "om", "ul", "bri", "cto", "ght", "st", "ph", "wa", "ye"]
    words = {"".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(size * 2)}
    return sorted(words)[:size]


class Corpus:
    """Seeded word salad with a Zipf-like word frequency (a few words are common)."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.words = _vocabulary(self.rng)
        self.cum_weights = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(self.words))))

    def text(self, chars: int = MESSAGE_CHARS) -> str:
        out: list[str] = []
        n = 0
        while n < chars:
            word = self.rng.choices(self.words, cum_weights=self.cum_weights)[0]
            out.append(word)
            n += len(word) + 1
        text = " ".join(out)[:chars]
        return text[0].upper() + text[1:] + "."

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def make_messages(n: int, seed: int = 7) -> list[BaseMessage]:
    """`n` messages of a tool-using agent: human, (ai with tool call, tool result)*, ..."""
    c = Corpus(seed)
    msgs: list[BaseMessage] = []
    call_id = ""
    for i in range(n):
        if i % 20 == 0:
            msgs.append(HumanMessage(content=c.text(), id=c.uid()))
        elif i % 2 == 1:
            call_id = "call_" + c.uid().replace("-", "")[:24]
            msgs.append(AIMessage(
                content=c.text(),
                id="run-" + c.uid(),
                tool_calls=[{"name": "search", "args": {"query": c.text(40), "k": 5},
                             "id": call_id, "type": "tool_call"}],
                response_metadata={"model_name": "gpt-4o-2024-08-06", "finish_reason": "tool_calls",
                                   "system_fingerprint": "fp_" + c.uid()[:10]},
                usage_metadata={"input_tokens": 900 + 37 * i, "output_tokens": 120,
                                "total_tokens": 1020 + 37 * i},
            ))
        else:
            msgs.append(ToolMessage(content=c.text(), tool_call_id=call_id or "call_0",
                                    name="search", id=c.uid()))
    return msgs


# --- the step plan ----------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    node: str                 # the node that ran (task A)
    trigger: str              # the branch channel it consumed
    next_trigger: str         # the branch channel it wrote
    task_a: str
    task_b: str
    events: dict[str, Any] | None        # task B's regular write, or None ...
    interrupt: Interrupt | None          # ... its special write instead


@dataclass(frozen=True)
class Plan:
    """Everything random about a thread, made once and shared by every saver."""

    messages: list[BaseMessage]
    steps: list[Step]
    profile: dict[str, Any]

    @classmethod
    def build(cls, steps: int, seed: int = 7) -> Plan:
        c = Corpus(seed + 1)
        messages = make_messages(steps + 1, seed)  # message 0 is the input
        plan = []
        for i in range(steps):
            node = "__start__" if i == 0 else ("agent" if i % 2 == 1 else "tools")
            trigger = "__start__" if i == 0 else f"branch:to:{node}"
            nxt = "branch:to:tools" if node == "agent" else "branch:to:agent"
            special = i % INTERRUPT_EVERY == INTERRUPT_EVERY - 1
            plan.append(Step(
                node=node, trigger=trigger, next_trigger=nxt, task_a=c.uid(), task_b=c.uid(),
                events=None if special else {"step": i, "tool": "search", "latency_ms": 100 + i % 37,
                                             "note": c.text(60)},
                interrupt=Interrupt(value={"question": "Approve this tool call?", "step": i},
                                    id=c.uid().replace("-", "")) if special else None,
            ))
        profile = {"user_id": "user-42", "locale": "en-GB", "plan": "pro", "bio": c.text(300)}
        return cls(messages, plan, profile)


# --- one thread's timeline --------------------------------------------------------------


class Timeline:
    """Produces the exact arguments Pregel would pass to put / put_writes for a thread.

    `next_version` is the saver's own `get_next_version`. With `window`, the message
    list holds only the newest `window` messages (a trimming agent), which keeps long
    histories (1,000 checkpoints) at a realistic size.
    """

    def __init__(
        self,
        plan: Plan,
        thread_id: str,
        next_version: Callable[[Any, None], Any],
        *,
        run_id: str | None = None,
        window: int | None = None,
        start_step: int = -1,
    ) -> None:
        self.plan = plan
        self.thread_id = thread_id
        self.next_version = next_version
        self.run_id = run_id or f"run-{thread_id}"
        self.window = window
        self.versions: dict[str, Any] = {}
        self.seen: dict[str, dict[str, Any]] = {"__input__": {}}
        self.values: dict[str, Any] = {}
        self.step_no = start_step
        self.n_messages = 0

    @property
    def root_config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.thread_id, "checkpoint_ns": ""}}

    def _bump(self, channels: Sequence[str]) -> dict[str, Any]:
        current = max(self.versions.values()) if self.versions else None
        v = self.next_version(current, None)
        for ch in channels:
            self.versions[ch] = v
        return {ch: v for ch in channels}

    def _checkpoint(self, step: int, changed: Sequence[str], source: str) -> tuple[Any, ...]:
        base = {
            "v": 4, "id": "", "ts": datetime.now(timezone.utc).isoformat(),
            "channel_values": dict(self.values),
            "channel_versions": dict(self.versions),
            "versions_seen": {k: dict(v) for k, v in self.seen.items()},
            "updated_channels": None,
        }
        cp = create_checkpoint(cast(Checkpoint, base), None, step, updated_channels=set(changed))
        metadata = {"source": source, "step": step, "parents": {}, "run_id": self.run_id}
        return cp, metadata

    def input_checkpoint(self, first_message: int = 0) -> tuple[Any, ...]:
        """(checkpoint, metadata, new_versions) of the input checkpoint (source "input");
        on an existing thread (a later run) it is the step after the last one."""
        if self.versions:
            self.step_no += 1
        self.values = {k: v for k, v in self.values.items() if k not in ("__start__",)}
        self.values["__start__"] = {
            "messages": [self.plan.messages[first_message]], "profile": self.plan.profile,
        }
        new = self._bump(["__start__"])
        cp, md = self._checkpoint(self.step_no, ["__start__"], "input")
        return cp, md, new

    def writes(self, i: int) -> list[tuple[list[tuple[str, Any]], str, str]]:
        """Step i's two put_writes batches: (writes, task_id, task_path)."""
        s = self.plan.steps[i]
        msg = self.plan.messages[i]
        a: list[tuple[str, Any]] = [("messages", [msg]), (s.next_trigger, None)]
        if s.node == "__start__":
            a.append(("profile", self.plan.profile))
        b: list[tuple[str, Any]]
        b = [("__interrupt__", [s.interrupt])] if s.interrupt is not None else [("events", s.events)]
        return [(a, s.task_a, f"~__pregel_pull, {s.node}"),
                (b, s.task_b, "~__pregel_pull, audit")]

    def checkpoint(self, i: int) -> tuple[Any, ...]:
        """(checkpoint, metadata, new_versions) after step i's writes are applied."""
        s = self.plan.steps[i]
        self.step_no += 1
        self.n_messages = i + 1
        lo = 0 if self.window is None else max(0, self.n_messages - self.window)
        changed = ["messages", s.next_trigger]
        self.values.pop(s.trigger, None)  # the trigger was consumed ...
        changed.append(s.trigger)          # ... which bumps its version, as in Pregel
        if "__start__" in self.values:     # a later run's input is consumed the same way
            self.values.pop("__start__")
            changed.append("__start__")
        self.values["messages"] = self.plan.messages[lo:self.n_messages]
        self.values[s.next_trigger] = None
        if s.node == "__start__":
            self.values["profile"] = self.plan.profile
            changed.append("profile")
        if s.events is not None:
            self.values["events"] = s.events
            changed.append("events")
        seen_before = self.versions.get(s.trigger)
        new = self._bump(list(dict.fromkeys(changed)))
        self.seen[s.node] = {s.trigger: seen_before}
        cp, md = self._checkpoint(self.step_no, changed, "loop")
        return cp, md, new

    def expected_messages(self) -> list[BaseMessage]:
        lo = 0 if self.window is None else max(0, self.n_messages - self.window)
        return self.plan.messages[lo:self.n_messages]


# --- the calls, as a generator (bench.savers.run / arun execute them) -------------------


def agent_ops(tl: Timeline, steps: range, *, read: bool, config: Any = None) -> Any:
    """Pregel's calls for `steps`: [get_tuple latest], 2x put_writes, put. The input
    checkpoint is put first unless `config` (the current checkpoint) is given.
    Returns the config of the last checkpoint."""
    if config is None:
        cp, md, new = tl.input_checkpoint()
        config = yield ("put", (tl.root_config, cp, md, new))
    for i in steps:
        if read:
            yield ("get_tuple", (tl.root_config,))
        for writes, task_id, path in tl.writes(i):
            yield ("put_writes", (config, writes, task_id, path))
        config = yield ("put", (config, *tl.checkpoint(i)))
    return config


def check_latest(tup: Any, tl: Timeline) -> None:
    """Fail loudly if a saver did not store what it was given (so a broken saver cannot
    look fast): the latest checkpoint must hold exactly the expected messages."""
    if tup is None:
        raise AssertionError(f"thread {tl.thread_id}: get_tuple returned None")
    got = tup.checkpoint["channel_values"].get("messages")
    want = tl.expected_messages()
    if got is None or len(got) != len(want) or [m.content for m in got] != [m.content for m in want]:
        raise AssertionError(
            f"thread {tl.thread_id}: latest checkpoint holds {0 if got is None else len(got)} "
            f"messages, expected {len(want)} (or their contents differ)"
        )
    if tup.checkpoint["channel_values"].get("profile") != tl.plan.profile:
        raise AssertionError(f"thread {tl.thread_id}: the unchanged 'profile' channel was lost")
