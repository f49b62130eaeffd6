"""zerograph demo: a LangGraph approval flow that pauses, persists, and resumes.

A refund request is drafted, a human approves it (`interrupt()`), and it is sent.
Every step is checkpointed to ./checkpoints.db by zerograph's SqliteSaver; the thread's
history is printed at the end. Run it with `make demo` (or `python examples/demo.py`).
"""

from __future__ import annotations

import operator
import os
import uuid
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from zerograph.checkpoint.sqlite import SqliteSaver


class Refund(TypedDict, total=False):
    order: str
    amount: int
    approved: bool
    log: Annotated[list[str], operator.add]


def draft(state: Refund) -> Refund:
    return {"amount": 40, "log": [f"drafted a $40 refund for {state['order']}"]}


def review(state: Refund) -> Refund:
    # Pauses the run here; the answer arrives later through Command(resume=...).
    answer = interrupt({"question": "Approve this refund?", "order": state["order"], "amount": state["amount"]})
    return {"approved": answer == "yes", "log": [f"reviewer answered {answer!r}"]}


def send(state: Refund) -> Refund:
    return {"log": ["refund sent" if state["approved"] else "refund cancelled"]}


builder = StateGraph(Refund)
builder.add_node(draft)
builder.add_node(review)
builder.add_node(send)
builder.add_edge(START, "draft")
builder.add_edge("draft", "review")
builder.add_edge("review", "send")
builder.add_edge("send", END)


def short(values: dict) -> str:
    """One line per checkpoint: lists shown by length, so the columns stay readable."""
    return ", ".join(
        f"len({k})={len(v)}" if isinstance(v, list) else f"{k}={v!r}" for k, v in values.items()
    )


with SqliteSaver("checkpoints.db") as saver:
    graph = builder.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": f"refund-{uuid.uuid4().hex[:8]}"}}
    print(f"database: {os.path.abspath(saver.path)}")
    print(f"thread:   {config['configurable']['thread_id']}\n")

    result = graph.invoke({"order": "A-1001", "log": []}, config)
    (pending,) = result["__interrupt__"]
    paused_at = ", ".join(graph.get_state(config).next)
    print(f"paused at node {paused_at!r}; it asks: {pending.value}")

    print("resuming with 'yes'...")
    final = graph.invoke(Command(resume="yes"), config)
    print(f"final state: {final}\n")

    print("history, newest first:")
    print(f"{'step':>4}  {'source':<6}  {'checkpoint id':<36}  {'next':<10}  values")
    for snap in graph.get_state_history(config):
        meta, cid = snap.metadata or {}, snap.config["configurable"]["checkpoint_id"]
        nxt = ",".join(snap.next) or "-"
        print(f"{meta.get('step'):>4}  {meta.get('source'):<6}  {cid}  {nxt:<10}  {short(snap.values)}")
