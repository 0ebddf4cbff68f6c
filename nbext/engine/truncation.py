"""Which thread messages fit in the prompt: the Assistants API's context-window policy.

Pure functions over per-message token costs, so the policy can be read and
tested without a model. The thread lives on the server and may be far longer
than the model can attend to; Chat Completions would make *you* choose what
to send, the Assistants API chooses for you, with one of two strategies:

- ``last_messages``: the N most recent messages, nothing else;
- ``auto``: drop messages from the *middle*: the first messages usually set
  up the task and the most recent ones are what must be answered, so both
  survive while the middle goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HEAD_MESSAGES = 2
"""How many of the thread's first messages ``auto`` tries to keep."""


@dataclass(frozen=True)
class Selection:
    """Indices (into the thread, oldest first) of the messages kept and of those left out."""

    kept: list[int]
    omitted: list[tuple[int, int]]  # inclusive index ranges

    @classmethod
    def of(cls, count: int, kept: Sequence[int]) -> Selection:
        kept = sorted(kept)
        omitted: list[tuple[int, int]] = []
        start = 0
        for index in [*kept, count]:
            if index > start:
                omitted.append((start, index - 1))
            start = index + 1
        return cls(kept=list(kept), omitted=omitted)


def last_messages(count: int, n: int) -> Selection:
    return Selection.of(count, range(max(0, count - n), count))


def auto(costs: Sequence[int], budget: int) -> Selection | None:
    """Keep the most recent message, then the first ones, then recent ones while they fit.

    None when not even the most recent message fits: there is nothing
    sensible to send.
    """
    count = len(costs)
    if count == 0:
        return Selection.of(0, [])
    if sum(costs) <= budget:
        return Selection.of(count, range(count))
    if costs[-1] > budget:
        return None
    kept = [count - 1]
    used = costs[-1]
    head = 0
    while head < min(HEAD_MESSAGES, count - 1) and used + costs[head] <= budget:
        kept.append(head)
        used += costs[head]
        head += 1
    # Recent messages, newest first, stopping at the first that does not fit so
    # the recent part of the conversation has no holes in it.
    for index in range(count - 2, head - 1, -1):
        if used + costs[index] > budget:
            break
        kept.append(index)
        used += costs[index]
    return Selection.of(count, kept)
