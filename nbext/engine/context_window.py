"""Choosing the thread messages of a run's first prompt, within the model's context window.

Token counts are cached per message (in the ``messages`` table, counted once
when the message is written), so starting a run on a thread of 10,000
messages reads 10,000 small integers, not 10,000 messages, and tokenizes only
what is actually sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from openai.types.beta.threads import Message, Run
from openai.types.beta.threads.run import TruncationStrategy
from openai.types.chat import ChatCompletionMessageParam

from nbext.backends.base import ChatBackend, TokenCounting
from nbext.engine import prompt, truncation
from nbext.store import MESSAGES, Store
from nbext.store.records import StoredContext
from nbext.tools.registry import ToolRegistry

REFITS = 3
"""Cached counts are per message; the exact count of the whole prompt can differ a
little (template tokens between messages), so selection is retried this often."""


class TokenCounter:
    """Token costs as the backend's own tokenizer and chat template count them."""

    def __init__(self, backend: ChatBackend) -> None:
        self._backend = backend
        self._empty: int | None = None

    def message(self, message: Message) -> int:
        """What adding this message to a prompt costs (template overhead excluded)."""
        if self._empty is None:
            # A chat template may add tokens to any prompt (a default system message):
            # counted once here, not once per message.
            try:
                self._empty = self._backend.count_tokens([])
            except Exception:
                self._empty = 0
        return max(1, self._backend.count_tokens([prompt.chat_message(message)]) - self._empty)

    def prompt(self, messages: Sequence[Any], tools: Sequence[Any] | None) -> int:
        return self._backend.count_tokens(messages, tools or None)

    @property
    def method(self) -> TokenCounting:
        """How the counts are made (recorded with each run's context)."""
        return self._backend.token_counting


class PromptTooLong(Exception):
    """Not even the most recent message fits; ``limit`` says which limit was hit."""

    def __init__(self, limit: Literal["max_prompt_tokens", "context_window"], message: str) -> None:
        super().__init__(message)
        self.limit = limit


@dataclass(frozen=True)
class FirstPrompt:
    messages: list[ChatCompletionMessageParam]
    context: StoredContext


def completion_reserve(run: Run, window: int) -> int:
    """Room left for the answer: a prompt that fills the window leaves the model no words."""
    return min(run.max_completion_tokens or window // 4, window // 2)


def first_prompt(
    store: Store,
    counter: TokenCounter,
    backend: ChatBackend,
    tools: ToolRegistry,
    run: Run,
    now: int,
) -> FirstPrompt:
    """The messages of the run's first model call, and the record of what was chosen."""
    strategy = run.truncation_strategy or TruncationStrategy(type="auto", last_messages=None)
    # last_messages needs no costs and no old rows: read only what can be sent.
    newest = strategy.last_messages if strategy.type == "last_messages" else None
    rows = store.columns(
        MESSAGES, ["seq", "id", "token_count"], newest=newest, thread_id=run.thread_id
    )
    older = _older_range(store, run.thread_id, rows) if newest is not None else []
    costs = [] if newest is not None else [_cached_cost(store, counter, row) for row in rows]
    system = prompt.system_messages(run)
    chat_tools = prompt.chat_tools(run.tools, tools) or None
    window = backend.context_window
    limit = window - completion_reserve(run, window)
    binding: Literal["max_prompt_tokens", "context_window"] = "context_window"
    if run.max_prompt_tokens is not None and run.max_prompt_tokens < limit:
        limit, binding = run.max_prompt_tokens, "max_prompt_tokens"
    budget = limit - counter.prompt(system, chat_tools)
    for _ in range(REFITS):
        if strategy.type == "last_messages":
            selection: truncation.Selection | None = truncation.last_messages(
                len(rows), strategy.last_messages or len(rows)
            )
        else:
            selection = truncation.auto(costs, budget)
        if selection is None:
            break
        kept = _load(store, run.thread_id, rows, selection.kept)
        messages = [*system, *(prompt.chat_message(m) for m in kept)]
        tokens = counter.prompt(messages, chat_tools)
        if tokens <= limit:
            context = StoredContext(
                id=run.id,
                thread_id=run.thread_id,
                created_at=now,
                truncation_strategy=strategy,
                context_window=window,
                prompt_budget=limit,
                prompt_tokens=tokens,
                token_counting=counter.method,
                sent_message_ids=[m.id for m in kept],
                omitted_seq_ranges=[
                    *older,
                    *((rows[a].seq, rows[b].seq) for a, b in selection.omitted),
                ],
            )
            return FirstPrompt(messages, context)
        if strategy.type == "last_messages":
            break
        budget -= tokens - limit
    raise PromptTooLong(
        binding,
        f"The thread's messages do not fit in {limit} prompt tokens "
        + (
            "(the run's max_prompt_tokens)."
            if binding == "max_prompt_tokens"
            else f"(the model's context window of {window} minus room for the answer)."
        ),
    )


def _older_range(store: Store, thread_id: str, newest: Sequence[Any]) -> list[tuple[int, int]]:
    """The ``seq`` range of the messages older than ``newest`` (empty if there are none)."""
    if not newest or store.count(MESSAGES, thread_id=thread_id) == len(newest):
        return []
    return [(0, newest[0].seq - 1)]


def _cached_cost(store: Store, counter: TokenCounter, row: Any) -> int:
    """A message's cached token count; counted now and kept if it was never counted."""
    if row.token_count is not None:
        return int(row.token_count)
    tokens = counter.message(store.get(MESSAGES, None, row.id))
    store.set_columns(MESSAGES, row.id, token_count=tokens)
    return tokens


def _load(store: Store, thread_id: str, rows: Sequence[Any], kept: list[int]) -> list[Message]:
    """The chosen messages, read as a few contiguous ranges (head, tail), not id by id."""
    messages: list[Message] = []
    for first, last in _runs(kept):
        seqs = range(rows[first].seq, rows[last].seq + 1)
        messages.extend(store.all(MESSAGES, thread_id=thread_id, seq=seqs))
    return messages


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """``[0, 1, 7, 8, 9]`` -> ``[(0, 1), (7, 9)]``."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and runs[-1][1] + 1 == index:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs
