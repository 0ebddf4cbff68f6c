"""The context-window policy: which thread messages a run sends, and what it costs."""

from __future__ import annotations

import pytest

from nbext.api.services import AssistantsService
from nbext.backends.base import TokenCounting
from nbext.engine import truncation
from nbext.store import ListQuery, Store

from .helpers import OWNER, FakeClock, wait_run
from .scripted_backend import PER_MESSAGE, Reply, ScriptedBackend

# A message of 41 words costs 45 tokens; a 400-token window keeps 100 for the answer.
TEXT = " ".join(["word"] * 40)


@pytest.fixture
def small(db_url: str, clock: FakeClock):
    backend = ScriptedBackend(context_window=400)
    service = AssistantsService(Store(db_url), backend, clock=clock)
    yield service, backend
    service.close()


def _long_thread(service: AssistantsService, count: int) -> tuple[str, list[str]]:
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i} {TEXT}"}
        for i in range(count)
    ]
    thread = service.threads.create(OWNER, {"messages": messages})
    page = ListQuery(order="asc", limit=100)
    ids = [m.id for m in service.messages.list(OWNER, thread.id, page).data]
    return thread.id, ids


def test_auto_drops_the_middle_and_keeps_first_and_recent(small):
    service, backend = small
    backend.script(Reply(text="ok"))
    assistant = service.assistants.create(OWNER, {"model": "scripted", "instructions": "Be brief."})
    thread_id, ids = _long_thread(service, 10)
    run = wait_run(service, service.runs.create(OWNER, thread_id, {"assistant_id": assistant.id}))
    assert run.status == "completed"
    assert run.truncation_strategy.type == "auto"
    context = service.runs.context(OWNER, thread_id, run.id)
    # Each message costs 45; the budget is 300 - 6 (system) = 294: the last one (45),
    # the first two (90), then 8, 7 and 6 (135): 270. Message 5 would make it 315.
    assert context.sent_message_ids == [ids[0], ids[1], ids[6], ids[7], ids[8], ids[9]]
    assert context.omitted_message_ids == ids[2:6]
    assert (context.context_window, context.prompt_budget) == (400, 300)
    assert context.prompt_tokens == 6 + 6 * (PER_MESSAGE + 41)
    sent = [m["content"].split()[0] for m in backend.requests[0]["messages"][1:]]
    assert sent == ["m0", "m1", "m6", "m7", "m8", "m9"]
    assert backend.requests[0]["messages"][2]["role"] == "assistant"


def test_last_messages_sends_only_the_most_recent(small):
    service, backend = small
    backend.script(Reply(text="ok"))
    assistant = service.assistants.create(OWNER, {"model": "scripted"})
    thread_id, ids = _long_thread(service, 6)
    body = {
        "assistant_id": assistant.id,
        "truncation_strategy": {"type": "last_messages", "last_messages": 2},
    }
    run = wait_run(service, service.runs.create(OWNER, thread_id, body))
    assert run.truncation_strategy.last_messages == 2
    context = service.runs.context(OWNER, thread_id, run.id)
    assert context.sent_message_ids == ids[4:]
    assert context.omitted_message_ids == ids[:4]
    assert [m["content"].split()[0] for m in backend.requests[0]["messages"]] == ["m4", "m5"]


def test_nothing_is_dropped_when_everything_fits(service, backend, assistant):
    backend.script(Reply(text="ok"))
    thread_id, ids = _long_thread(service, 4)
    run = wait_run(service, service.runs.create(OWNER, thread_id, {"assistant_id": assistant.id}))
    context = service.runs.context(OWNER, thread_id, run.id)
    assert (context.sent_message_ids, context.omitted_message_ids) == (ids, [])


class EstimatingBackend(ScriptedBackend):
    """A backend that, like a remote endpoint without a known tokenizer, estimates."""

    @property
    def token_counting(self) -> TokenCounting:
        return "estimate"


def test_the_context_records_how_tokens_were_counted(service, backend, assistant, db_url, clock):
    backend.script(Reply(text="ok"))
    thread_id, _ = _long_thread(service, 2)
    run = wait_run(service, service.runs.create(OWNER, thread_id, {"assistant_id": assistant.id}))
    assert service.runs.context(OWNER, thread_id, run.id).token_counting == "tokenizer"

    estimating = EstimatingBackend()
    other = AssistantsService(Store(db_url), estimating, clock=clock)
    try:
        estimating.script(Reply(text="ok"))
        helper = other.assistants.create(OWNER, {"model": "scripted"})
        thread_id, _ = _long_thread(other, 2)
        run = wait_run(other, other.runs.create(OWNER, thread_id, {"assistant_id": helper.id}))
        assert other.runs.context(OWNER, thread_id, run.id).token_counting == "estimate"
    finally:
        other.close()


def test_a_message_larger_than_the_window_fails_the_run(small):
    service, _ = small
    assistant = service.assistants.create(OWNER, {"model": "scripted"})
    thread = service.threads.create(OWNER, {"messages": [{"role": "user", "content": TEXT * 10}]})
    run = wait_run(service, service.runs.create(OWNER, thread.id, {"assistant_id": assistant.id}))
    assert run.status == "failed" and run.last_error.code == "invalid_prompt"
    assert "context window of 400" in run.last_error.message


def test_token_counts_are_cached_so_long_threads_start_cheaply(small):
    service, backend = small
    assistant = service.assistants.create(OWNER, {"model": "scripted"})

    def start(count: int) -> int:
        messages = [{"role": "user", "content": f"m{i} {TEXT}"} for i in range(count)]
        thread = service.threads.create(OWNER, {"messages": messages})
        backend.script(Reply(text="ok"))
        counted = backend.counted_messages
        run = wait_run(
            service, service.runs.create(OWNER, thread.id, {"assistant_id": assistant.id})
        )
        assert run.status == "completed"
        return backend.counted_messages - counted

    short_counted = start(10)
    long_counted = start(10_000)
    # Tokenizer work is bounded by what fits in the window, not by the thread's length.
    # (Counted calls, not seconds: a timing is no pass/fail test on a shared machine.)
    assert long_counted <= 2 * short_counted


def test_selection_unit():
    assert truncation.auto([10, 10, 10], 100).omitted == []
    chosen = truncation.auto([10, 10, 10, 10, 10, 10], 40)
    assert (chosen.kept, chosen.omitted) == ([0, 1, 4, 5], [(2, 3)])
    assert truncation.auto([10, 50], 40) is None
    assert truncation.last_messages(5, 2).omitted == [(0, 2)]
    assert truncation.last_messages(2, 5).omitted == []
