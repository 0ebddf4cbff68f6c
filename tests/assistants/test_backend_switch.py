"""Switching the backend of a running service (``%nbext backend ...``).

Token counts belong to the tokenizer that made them: after a switch, the
context window *and* the counts must come from the new backend, including
the per-message counts cached in the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nbext.api.services import AssistantsService
from nbext.store import Store

from .helpers import OWNER, FakeClock, wait_run
from .scripted_backend import PER_MESSAGE, Reply, ScriptedBackend

TEXT = " ".join(["word"] * 40)  # 41 words with its prefix: 45 tokens on the first backend


class CoarseTokenizer(ScriptedBackend):
    """A backend whose tokenizer counts every message three times as dear."""

    def count_tokens(self, messages: Sequence[Any], tools: Sequence[Any] | None = None) -> int:
        return 3 * super().count_tokens(messages, tools)


def _run(service: AssistantsService, backend: ScriptedBackend, thread_id: str, assistant: str):
    backend.script(Reply(text="ok"))
    run = service.runs.create(OWNER, thread_id, {"assistant_id": assistant})
    return wait_run(service, run)


def test_a_new_backend_recounts_every_message(db_url: str, clock: FakeClock) -> None:
    first = ScriptedBackend(context_window=4096)
    service = AssistantsService(Store(db_url), first, clock=clock)
    try:
        assistant = service.assistants.create(OWNER, {"model": "scripted"}).id
        thread = service.threads.create(
            OWNER, {"messages": [{"role": "user", "content": f"m{i} {TEXT}"} for i in range(3)]}
        )
        run = _run(service, first, thread.id, assistant)
        counted = service.runs.context(OWNER, thread.id, run.id).message_tokens
        assert sorted(set(counted.values())) == [PER_MESSAGE + 1, PER_MESSAGE + 41]  # "ok", TEXT

        second = CoarseTokenizer(context_window=4096)
        service.use_backend(second)
        assert service.rt.backend is second
        run = _run(service, second, thread.id, assistant)
        assert run.status == "completed"
        recounted = service.runs.context(OWNER, thread.id, run.id).message_tokens
        assert recounted.keys() >= counted.keys()
        assert {recounted[m] for m in counted} == {3 * v for v in counted.values()}
    finally:
        service.close()


def test_the_new_context_window_decides_truncation(db_url: str, clock: FakeClock) -> None:
    roomy = ScriptedBackend(context_window=4096)
    service = AssistantsService(Store(db_url), roomy, clock=clock)
    try:
        assistant = service.assistants.create(OWNER, {"model": "scripted"}).id
        thread = service.threads.create(
            OWNER, {"messages": [{"role": "user", "content": f"m{i} {TEXT}"} for i in range(6)]}
        )
        run = _run(service, roomy, thread.id, assistant)
        assert service.runs.context(OWNER, thread.id, run.id).omitted_message_ids == []

        # 6 messages x 135 tokens do not fit in 500 with the coarse tokenizer.
        tight = CoarseTokenizer(context_window=500)
        service.use_backend(tight)
        run = _run(service, tight, thread.id, assistant)
        assert run.status == "completed"
        assert service.runs.context(OWNER, thread.id, run.id).omitted_message_ids
    finally:
        service.close()
