"""The Assistants API v2 as plain Python: every operation of the HTTP API, minus HTTP.

Each method takes the caller's identity (``owner``: whoever the API key
belongs to; nobody sees another owner's objects) and, where the HTTP API
takes a JSON body or a query string, the parsed body or query as a dict.
It returns the SDK object the HTTP API returns, or raises
:class:`nbext.errors.APIError` with OpenAI's status, wording and ``param``.
A route handler is therefore one line: parse, call, serialize.

Runs never execute in the caller: creating one stores it ``queued`` and
hands it to a worker thread. ``stream_*`` variants return the run's events
as ``(event_name, sdk_object)`` pairs instead of the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openai.types.beta import Assistant, AssistantDeleted, Thread, ThreadDeleted
from openai.types.beta.threads import Message, MessageDeleted, Run
from openai.types.beta.threads.runs import RunStep
from openai.types.beta.threads.runs.file_search_tool_call import FileSearchResultContent
from pydantic import BaseModel

from nbext.assistants import objects, requests
from nbext.assistants.objects import DEFAULT_TEMPERATURE, DEFAULT_TOP_P
from nbext.assistants.validation import validate
from nbext.backends.base import ChatBackend
from nbext.engine import lifecycle, workers
from nbext.engine.context_window import TokenCounter
from nbext.engine.events import Event, RunChannel
from nbext.engine.lifecycle import ACTIVE, Runtime, expire_if_due, finish, transition
from nbext.engine.loop import Runner
from nbext.errors import invalid, not_found
from nbext.ids import new_id
from nbext.protocol import INCLUDE_FILE_SEARCH_CONTENT
from nbext.store import (
    ASSISTANTS,
    CONTEXTS,
    FILE_SEARCH_CONTENTS,
    MESSAGES,
    PROMPTS,
    RUN_STEPS,
    RUNS,
    THREADS,
    ListQuery,
    Page,
    Store,
)
from nbext.store.records import RunContext, RunPrompt
from nbext.tools.function.outputs import matched_outputs, record_outputs
from nbext.tools.registry import ToolRegistry

Query = Mapping[str, Any]


class AssistantsService:
    """Assistants, threads, messages, runs and run steps of every owner, over one store."""

    def __init__(
        self,
        store: Store,
        backend: ChatBackend,
        *,
        tools: ToolRegistry | None = None,
        workers: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rt = Runtime(store, backend, tools or ToolRegistry(), clock)
        self._runner = Runner(self.rt)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nbext-run")
        lifecycle.recover(self.rt)

    def use_backend(self, backend: ChatBackend) -> None:
        """Serve later runs with ``backend``, and drop what the old one measured.

        The token counter and every message's cached ``token_count`` belong to
        the tokenizer that counted them; a new backend counts afresh.
        """
        with self.rt.lock:
            self.rt.backend = backend
            self.rt.tokens = TokenCounter(backend)
            self.rt.store.set_columns_everywhere(MESSAGES, token_count=None)

    def close(self) -> None:
        """Stop taking runs and wait for the running ones to reach a pause or an end."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- assistants ----------------------------------------------------------

    def create_assistant(self, owner: str, body: Any) -> Assistant:
        body = self._resolve_resources(owner, validate(body, requests.ASSISTANT_CREATE))
        assistant = objects.new_assistant(body, self.rt.now())
        self.rt.store.insert(ASSISTANTS, owner, assistant)
        return assistant

    def retrieve_assistant(self, owner: str, assistant_id: str) -> Assistant:
        return self.rt.store.get(ASSISTANTS, owner, assistant_id)

    def modify_assistant(self, owner: str, assistant_id: str, body: Any) -> Assistant:
        changes = self._resolve_resources(owner, validate(body, requests.ASSISTANT_MODIFY))
        assistant = objects.modified(self.retrieve_assistant(owner, assistant_id), changes)
        self.rt.store.update(ASSISTANTS, assistant)
        return assistant

    def delete_assistant(self, owner: str, assistant_id: str) -> AssistantDeleted:
        self.rt.store.delete(ASSISTANTS, owner, assistant_id)
        return AssistantDeleted(id=assistant_id, object="assistant.deleted", deleted=True)

    def list_assistants(self, owner: str, query: Query | None = None) -> Page[Assistant]:
        return self.rt.store.list(ASSISTANTS, owner, ListQuery.parse(query or {}))

    # -- threads -------------------------------------------------------------

    def create_thread(self, owner: str, body: Any = None) -> Thread:
        return self._create_thread(owner, validate(body or {}, requests.THREAD_CREATE))

    def retrieve_thread(self, owner: str, thread_id: str) -> Thread:
        return self.rt.store.get(THREADS, owner, thread_id)

    def modify_thread(self, owner: str, thread_id: str, body: Any) -> Thread:
        changes = self._resolve_resources(owner, validate(body, requests.THREAD_MODIFY))
        thread = objects.modified(self.retrieve_thread(owner, thread_id), changes)
        self.rt.store.update(THREADS, thread)
        return thread

    def delete_thread(self, owner: str, thread_id: str) -> ThreadDeleted:
        """Delete the thread and everything in it; a run still going is told to stop."""
        self.retrieve_thread(owner, thread_id)
        with self.rt.lock:
            for run in self.rt.store.all(RUNS, thread_id=thread_id, status=ACTIVE):
                self.rt.cancel_requests.add(run.id)
            for kind in (MESSAGES, RUNS, RUN_STEPS, PROMPTS, CONTEXTS):
                self.rt.store.delete_where(kind, thread_id=thread_id)
            self.rt.store.delete(THREADS, owner, thread_id)
        self.rt.tools.hooks.thread_deleted(owner, thread_id)
        return ThreadDeleted(id=thread_id, object="thread.deleted", deleted=True)

    def _create_thread(self, owner: str, body: dict[str, Any]) -> Thread:
        now = self.rt.now()
        body = self._resolve_resources(owner, body)
        for m in body.get("messages") or []:
            self.rt.tools.hooks.check_attachments(owner, m.get("attachments") or [])
        thread = objects.new_thread(body, now)
        messages = [objects.new_message(m, thread.id, now) for m in body.get("messages") or []]
        self.rt.store.insert(THREADS, owner, thread)
        self.rt.store.insert_many(
            MESSAGES, owner, [(m, self._message_columns(m)) for m in messages]
        )
        self.rt.tools.hooks.messages_created(owner, thread.id, messages)
        return self.rt.store.get(THREADS, owner, thread.id)  # attachments may have added resources

    def _resolve_resources(self, owner: str, body: dict[str, Any]) -> dict[str, Any]:
        """``tool_resources`` checked (unknown ids are 404s) and ``vector_stores`` created."""
        if body.get("tool_resources"):
            try:
                resolved = self.rt.tools.hooks.resolve_tool_resources(owner, body["tool_resources"])
            except LookupError as exc:
                raise invalid(
                    f"'tool_resources' cannot be used here: {exc}.", param="tool_resources"
                ) from None
            body = {**body, "tool_resources": resolved}
        return body

    # -- messages ------------------------------------------------------------

    def create_message(self, owner: str, thread_id: str, body: Any) -> Message:
        body = validate(body, requests.MESSAGE_CREATE)
        self.rt.tools.hooks.check_attachments(owner, body.get("attachments") or [])
        with self.rt.lock:
            self.retrieve_thread(owner, thread_id)
            active = self._active_run(thread_id)
            if active is not None:
                raise invalid(
                    f"Can't add messages to {thread_id} while a run {active.id} is active."
                )
            message = objects.new_message(body, thread_id, self.rt.now())
            self.rt.store.insert(MESSAGES, owner, message, **self._message_columns(message))
        self.rt.tools.hooks.messages_created(owner, thread_id, [message])
        return message

    def list_messages(
        self, owner: str, thread_id: str, query: Query | None = None
    ) -> Page[Message]:
        """Newest first by default; ``run_id`` keeps only the messages a run wrote."""
        query = query or {}
        page = ListQuery.parse(query, extra=("run_id",))
        self.retrieve_thread(owner, thread_id)
        where = {"run_id": query["run_id"]} if query.get("run_id") else {}
        return self.rt.store.list(MESSAGES, owner, page, thread_id=thread_id, **where)

    def retrieve_message(self, owner: str, thread_id: str, message_id: str) -> Message:
        return self.rt.store.get(MESSAGES, owner, message_id, thread_id=thread_id)

    def modify_message(self, owner: str, thread_id: str, message_id: str, body: Any) -> Message:
        changes = validate(body, requests.METADATA_ONLY)
        message = objects.modified(self.retrieve_message(owner, thread_id, message_id), changes)
        self.rt.store.update(MESSAGES, message)
        return message

    def delete_message(self, owner: str, thread_id: str, message_id: str) -> MessageDeleted:
        self.rt.store.delete(MESSAGES, owner, message_id, thread_id=thread_id)
        return MessageDeleted(id=message_id, object="thread.message.deleted", deleted=True)

    def _message_columns(self, message: Message) -> dict[str, Any]:
        """Counted once, here, so no run ever re-tokenizes the thread."""
        return {
            "thread_id": message.thread_id,
            "run_id": message.run_id,
            "token_count": self.rt.tokens.message(message),
        }

    # -- runs ----------------------------------------------------------------

    def create_run(self, owner: str, thread_id: str, body: Any) -> Run:
        return self._start_run(owner, thread_id, validate(body, requests.RUN_CREATE))[0]

    def stream_run(self, owner: str, thread_id: str, body: Any) -> Iterator[Event]:
        """Like :meth:`create_run`; errors raise here, before the first event."""
        return iter(self._start_run(owner, thread_id, validate(body, requests.RUN_CREATE))[1])

    def create_thread_and_run(self, owner: str, body: Any) -> Run:
        return self._thread_and_run(owner, body)[0]

    def stream_thread_and_run(self, owner: str, body: Any) -> Iterator[Event]:
        """Starts with ``thread.created``, then the run's events."""
        return iter(self._thread_and_run(owner, body)[1])

    def retrieve_run(self, owner: str, thread_id: str, run_id: str) -> Run:
        run = self.rt.store.get(RUNS, owner, run_id, thread_id=thread_id)
        return expire_if_due(self.rt, run)

    def list_runs(self, owner: str, thread_id: str, query: Query | None = None) -> Page[Run]:
        page_query = ListQuery.parse(query or {})
        self.retrieve_thread(owner, thread_id)
        page = self.rt.store.list(RUNS, owner, page_query, thread_id=thread_id)
        page.data = [expire_if_due(self.rt, run) for run in page.data]
        return page

    def modify_run(self, owner: str, thread_id: str, run_id: str, body: Any) -> Run:
        changes = validate(body, requests.METADATA_ONLY)
        with self.rt.lock:
            run = objects.modified(self.retrieve_run(owner, thread_id, run_id), changes)
            self.rt.store.update(RUNS, run, status=run.status)
        return run

    def cancel_run(self, owner: str, thread_id: str, run_id: str) -> Run:
        """A working run becomes ``cancelling`` (its worker stops at the next token);
        a run waiting for tool outputs has no worker and is ``cancelled`` at once."""
        with self.rt.lock:
            run = self.retrieve_run(owner, thread_id, run_id)
            if run.status in ("queued", "in_progress"):
                self.rt.cancel_requests.add(run_id)
                return transition(self.rt, run_id, "cancelling", ("queued", "in_progress")) or run
            if run.status == "requires_action":
                return finish(self.rt, run_id, "cancelled", ("requires_action",)) or run
            if run.status == "cancelling":
                return run
            raise invalid(f"Cannot cancel run with status '{run.status}'.")

    def submit_tool_outputs(self, owner: str, thread_id: str, run_id: str, body: Any) -> Run:
        return self._resume(owner, thread_id, run_id, body)[0]

    def stream_submit_tool_outputs(
        self, owner: str, thread_id: str, run_id: str, body: Any
    ) -> Iterator[Event]:
        return iter(self._resume(owner, thread_id, run_id, body)[1])

    def subscribe(self, owner: str, thread_id: str, run_id: str) -> Iterator[Event]:
        """Join a run's current stream from its start; a run at rest yields its last event."""
        # The channel first, the run second: the other way round, a run that
        # ends in between would be reported in the state it had before.
        channel = self.rt.hub.current(run_id)
        run = self.retrieve_run(owner, thread_id, run_id)  # also the owner check
        if channel is not None:
            return iter(channel)
        return iter([Event(f"thread.run.{run.status}", run)])

    # -- run steps -----------------------------------------------------------

    def list_run_steps(
        self, owner: str, thread_id: str, run_id: str, query: Query | None = None
    ) -> Page[RunStep]:
        page_query = ListQuery.parse(query or {}, extra=("include", "include[]"))
        self.retrieve_run(owner, thread_id, run_id)
        page = self.rt.store.list(RUN_STEPS, owner, page_query, run_id=run_id)
        if _includes_contents(query):
            page.data = [self._with_contents(step) for step in page.data]
        return page

    def retrieve_run_step(
        self, owner: str, thread_id: str, run_id: str, step_id: str, query: Query | None = None
    ) -> RunStep:
        step = self.rt.store.get(RUN_STEPS, owner, step_id, thread_id=thread_id, run_id=run_id)
        return self._with_contents(step) if _includes_contents(query) else step

    def _with_contents(self, step: RunStep) -> RunStep:
        """The step with its file_search results' passages filled in (``include``)."""
        if step.step_details.type != "tool_calls":
            return step
        step = step.model_copy(deep=True)
        for call in step.step_details.tool_calls:
            if call.type != "file_search" or not call.file_search.results:
                continue
            stored = self.rt.store.find(FILE_SEARCH_CONTENTS, None, call.id)
            if stored is None:
                continue
            for result, text in zip(call.file_search.results, stored.contents, strict=False):
                result.content = [FileSearchResultContent(type="text", text=text)]
        return step

    # -- what the model saw (nbext's own endpoints) ---------------------------

    def get_run_context(self, owner: str, thread_id: str, run_id: str) -> RunContext:
        """The thread messages the run sent to the model, and those truncation left out."""
        self.retrieve_run(owner, thread_id, run_id)
        stored = self.rt.store.find(CONTEXTS, owner, run_id)
        if stored is None:
            raise not_found("run context", run_id)
        omitted: list[str] = []
        for first, last in stored.omitted_seq_ranges:
            rows = self.rt.store.columns(
                MESSAGES, ["id"], thread_id=thread_id, seq=range(first, last + 1)
            )
            omitted.extend(row.id for row in rows)
        fields = stored.model_dump(exclude={"omitted_seq_ranges"})
        counted = self.rt.store.columns(MESSAGES, ["id", "token_count"], thread_id=thread_id)
        tokens = {row.id: row.token_count for row in counted if row.token_count is not None}
        return RunContext(**fields, omitted_message_ids=omitted, message_tokens=tokens)

    def list_run_prompts(self, owner: str, thread_id: str, run_id: str) -> Page[RunPrompt]:
        """Every Chat Completions request the run made, in order (never many: no paging)."""
        self.retrieve_run(owner, thread_id, run_id)
        prompts = self.rt.store.all(PROMPTS, owner, run_id=run_id)
        return Page[RunPrompt](
            data=prompts,
            first_id=prompts[0].id if prompts else None,
            last_id=prompts[-1].id if prompts else None,
            has_more=False,
        )

    # -- internals -----------------------------------------------------------

    def _active_run(self, thread_id: str) -> Run | None:
        for run in self.rt.store.all(RUNS, thread_id=thread_id, status=ACTIVE):
            if expire_if_due(self.rt, run).status in ACTIVE:
                return run
        return None

    def _thread_and_run(self, owner: str, body: Any) -> tuple[Run, RunChannel]:
        body = validate(body, requests.THREAD_AND_RUN_CREATE)
        self.retrieve_assistant(owner, body["assistant_id"])  # before creating anything
        thread_body = dict(body.pop("thread", None) or {})
        resources = body.pop("tool_resources", None)
        if resources:
            resources = self._resolve_resources(owner, {"tool_resources": resources})[
                "tool_resources"
            ]
        if resources and not thread_body.get("tool_resources"):
            thread_body["tool_resources"] = resources
        thread = self._create_thread(owner, thread_body)
        return self._start_run(owner, thread.id, body, created_thread=thread)

    def _start_run(
        self, owner: str, thread_id: str, body: dict[str, Any], created_thread: Thread | None = None
    ) -> tuple[Run, RunChannel]:
        assistant = self.retrieve_assistant(owner, body["assistant_id"])
        for m in body.get("additional_messages") or []:
            self.rt.tools.hooks.check_attachments(owner, m.get("attachments") or [])
        with self.rt.lock:
            self.retrieve_thread(owner, thread_id)
            active = self._active_run(thread_id)
            if active is not None:
                raise invalid(f"Thread {thread_id} already has an active run {active.id}.")
            run = self._new_run(body, assistant, thread_id)
            now = self.rt.now()
            extra = [
                objects.new_message(m, thread_id, now)
                for m in body.get("additional_messages") or []
            ]
            self.rt.store.insert_many(
                MESSAGES, owner, [(m, self._message_columns(m)) for m in extra]
            )
            if extra:
                self.rt.tools.hooks.messages_created(owner, thread_id, extra)
            self.rt.store.insert(RUNS, owner, run, thread_id=thread_id, status=run.status)
            channel = self.rt.hub.open(run.id)
            if created_thread is not None:
                channel.publish("thread.created", created_thread)
            channel.publish("thread.run.created", run)
            channel.publish("thread.run.queued", run)
        workers.claim(self.rt.store, run.id)
        self._pool.submit(self._runner.execute, run.id, owner, channel)
        return run, channel

    def _new_run(self, body: dict[str, Any], assistant: Assistant, thread_id: str) -> Run:
        """The run's settings: the request's, else the assistant's, else OpenAI's defaults."""
        now = self.rt.now()
        instructions = body.get("instructions")
        if instructions is None:
            instructions = assistant.instructions or ""
        if body.get("additional_instructions"):
            instructions = "\n\n".join(
                filter(None, [instructions, body["additional_instructions"]])
            )
        tools = (
            body["tools"]
            if body.get("tools") is not None
            else [t.model_dump(mode="json") for t in assistant.tools]
        )
        truncation = body.get("truncation_strategy") or {"type": "auto", "last_messages": None}
        if truncation["type"] == "last_messages" and not truncation.get("last_messages"):
            raise invalid(
                "Missing required parameter: 'truncation_strategy.last_messages'.",
                param="truncation_strategy.last_messages",
                code="missing_required_parameter",
            )
        _check_tool_choice(body.get("tool_choice"), tools)
        return Run.model_validate(
            {
                "id": new_id("run"),
                "object": "thread.run",
                "created_at": now,
                "assistant_id": assistant.id,
                "thread_id": thread_id,
                "status": "queued",
                "expires_at": now + lifecycle.lifetime(body.get("metadata")),
                "started_at": None,
                "cancelled_at": None,
                "failed_at": None,
                "completed_at": None,
                "required_action": None,
                "last_error": None,
                "incomplete_details": None,
                "model": body.get("model") or assistant.model,
                "instructions": instructions,
                "tools": tools,
                "metadata": body.get("metadata") or {},
                "temperature": _first(
                    body.get("temperature"), assistant.temperature, DEFAULT_TEMPERATURE
                ),
                "top_p": _first(body.get("top_p"), assistant.top_p, DEFAULT_TOP_P),
                "max_prompt_tokens": body.get("max_prompt_tokens"),
                "max_completion_tokens": body.get("max_completion_tokens"),
                "truncation_strategy": truncation,
                "tool_choice": body.get("tool_choice") or "auto",
                "parallel_tool_calls": body.get("parallel_tool_calls", True),
                "response_format": _response_format(body, assistant),
                "usage": None,
            }
        )

    def _resume(self, owner: str, thread_id: str, run_id: str, body: Any) -> tuple[Run, RunChannel]:
        """Record the client's function outputs and hand the run back to a worker."""
        body = validate(body, requests.SUBMIT_TOOL_OUTPUTS)
        with self.rt.lock:
            run = self.retrieve_run(owner, thread_id, run_id)
            outputs = matched_outputs(run, body["tool_outputs"])
            record_outputs(self.rt.store, run_id, outputs)
            channel = self.rt.hub.open(run_id)
            resumed = transition(
                self.rt, run_id, "queued", ("requires_action",), required_action=None
            )
            assert resumed is not None  # the lock is held and the status was checked
        workers.claim(self.rt.store, run_id)
        self._pool.submit(self._runner.execute, run_id, owner, channel)
        return resumed, channel




def _includes_contents(query: Query | None) -> bool:
    if not query:
        return False
    values: list[Any] = []
    for key in ("include", "include[]"):
        value = query.get(key)
        values.extend(value if isinstance(value, (list, tuple)) else [value])
    return INCLUDE_FILE_SEARCH_CONTENT in values


def _response_format(body: dict[str, Any], assistant: Assistant) -> Any:
    if body.get("response_format") is not None:
        return body["response_format"]
    fmt = assistant.response_format
    return fmt.model_dump(mode="json") if isinstance(fmt, BaseModel) else (fmt or "auto")


def _first(*values: Any) -> Any:
    return next(v for v in values if v is not None)


def _check_tool_choice(choice: Any, tools: list[dict[str, Any]]) -> None:
    """A forced tool must be one the run has (the model could not call it otherwise)."""
    if choice is None or choice in ("none", "auto"):
        return
    if choice == "required":
        if not tools:
            raise invalid(
                "'tool_choice' is 'required' but the run has no tools.", param="tool_choice"
            )
        return
    if choice["type"] == "function":
        name = (choice.get("function") or {}).get("name")
        names = [t["function"]["name"] for t in tools if t["type"] == "function"]
        if name not in names:
            raise invalid(
                f"Invalid 'tool_choice': the run has no function named '{name}'.",
                param="tool_choice.function.name",
            )
    elif choice["type"] not in [t["type"] for t in tools]:
        raise invalid(
            f"Invalid 'tool_choice': the run has no {choice['type']} tool.",
            param="tool_choice.type",
        )
