"""The worker side of a run: call the model, stream its answer, run the tool loop.

This is the part of the Assistants API that used to be invisible: a loop of
ordinary Chat Completions calls. Each pass sends the conversation so far;
if the model answers with text, that becomes a message and the run is done;
if it calls tools, server-side tools run right here and the loop goes on,
while function tools pause the run (``requires_action``) until the client
submits their outputs. Token budgets are shared by every pass of the loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from openai.types import CompletionUsage
from openai.types.beta import Assistant, AssistantTool, Thread
from openai.types.beta.threads import Message, MessageDeltaEvent, Run
from openai.types.beta.threads.run import RequiredAction
from openai.types.beta.threads.runs import RunStep, RunStepDeltaEvent, ToolCall
from openai.types.chat import ChatCompletionMessageParam
from pydantic import TypeAdapter

from nbext.backends.base import ChatRequest
from nbext.engine import context_window, lifecycle, prompt, steps
from nbext.engine.events import RunChannel
from nbext.engine.lifecycle import Runtime, finish, transition
from nbext.errors import BackendError
from nbext.ids import new_id
from nbext.store import ASSISTANTS, CONTEXTS, MESSAGES, PROMPTS, RUN_STEPS, RUNS, THREADS
from nbext.store.records import RunPrompt
from nbext.tools.registry import ToolContext

_TOOL_CALL = TypeAdapter(ToolCall)


class _Stop(Exception):
    """The run left ``in_progress`` (cancelled, expired, failed): unwind quietly."""


class RunFailure(Exception):
    """The run cannot go on; the message is shown as is in the run's ``last_error``."""


@dataclass
class _Call:
    """What one model call produced, gathered while it streams."""

    record: RunPrompt
    text: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, str]] = field(default_factory=dict)  # index -> id, name, arguments
    message: Message | None = None
    message_step: RunStep | None = None
    tool_step: RunStep | None = None
    finish_reason: str | None = None
    usage: CompletionUsage | None = None
    served_by: str | None = None


class Runner:
    """Executes runs; one :meth:`execute` call per stretch (until a pause or the end)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def execute(self, run_id: str, owner: str, channel: RunChannel) -> None:
        """Entry point of the worker thread: whatever happens, the run ends in a clear state."""
        try:
            self._execute(run_id, owner)
        except _Stop:
            pass
        except (RunFailure, LookupError) as exc:
            error = {"code": "server_error", "message": str(exc.args[0])}
            finish(self.rt, run_id, "failed", last_error=error)
        except BackendError as exc:
            code = "rate_limit_exceeded" if exc.status == 429 else "server_error"
            finish(self.rt, run_id, "failed", last_error={"code": code, "message": exc.message})
        except Exception as exc:
            finish(
                self.rt,
                run_id,
                "failed",
                last_error={"code": "server_error", "message": f"{type(exc).__name__}: {exc}"},
            )
        finally:
            # A cancel that raced with the worker's last write still has to land.
            finish(self.rt, run_id, "cancelled", ("cancelling",))
            if self.rt.hub.current(run_id) is channel:
                self.rt.hub.close(run_id)

    # -- the loop ------------------------------------------------------------

    def _execute(self, run_id: str, owner: str) -> None:
        rt = self.rt
        run = rt.store.find(RUNS, None, run_id)
        if run is None:  # the thread was deleted meanwhile
            return
        self._check(run)
        started = run.started_at or rt.now()
        run = transition(rt, run_id, "in_progress", ("queued",), started_at=started)
        if run is None:
            return
        thread = rt.store.get(THREADS, owner, run.thread_id)
        assistant = rt.store.find(ASSISTANTS, owner, run.assistant_id)
        records = rt.store.all(PROMPTS, run_id=run_id)
        if records:
            self._complete_tool_step(records[-1])
            messages = prompt.continuation(records[-1])
        else:
            try:
                first = context_window.first_prompt(
                    rt.store, rt.tokens, rt.backend, rt.tools, run, rt.now()
                )
            except context_window.PromptTooLong as exc:
                if exc.limit == "max_prompt_tokens":
                    finish(rt, run_id, "incomplete", incomplete_reason="max_prompt_tokens")
                else:
                    finish(
                        rt,
                        run_id,
                        "failed",
                        last_error={"code": "invalid_prompt", "message": str(exc)},
                    )
                return
            rt.store.insert(CONTEXTS, owner, first.context, thread_id=run.thread_id, run_id=run_id)
            messages = first.messages
        while True:
            self._check(run)
            request = self._request(run, messages, records)
            if request is None:
                return
            record = RunPrompt(
                id=new_id("prompt"),
                run_id=run_id,
                thread_id=run.thread_id,
                created_at=rt.now(),
                index=len(records),
                request=dict(request),
            )
            rt.store.insert(PROMPTS, owner, record, thread_id=run.thread_id, run_id=run_id)
            call = self._call_model(run, owner, request, record)
            records.append(call.record)
            if call.finish_reason == "length" and "max_completion_tokens" in request:
                finish(rt, run_id, "incomplete", incomplete_reason="max_completion_tokens")
                return
            if not call.calls:
                finish(rt, run_id, "completed", ("in_progress",))
                return
            if self._run_tools(run, owner, thread, assistant, call):
                return  # paused for the client's function outputs
            assert call.tool_step is not None
            steps.complete_step(self.rt, call.tool_step.id, call.record.usage)
            records[-1] = call.record  # now with the tools' outputs
            messages = prompt.continuation(call.record)

    def _check(self, run: Run) -> None:
        """Stop between steps if the run was cancelled or has outlived ``expires_at``."""
        if run.id in self.rt.cancel_requests:
            finish(self.rt, run.id, "cancelled", ("cancelling", "queued", "in_progress"))
            raise _Stop
        if run.expires_at is not None and self.rt.now() > run.expires_at:
            finish(self.rt, run.id, "expired", lifecycle.ACTIVE)
            raise _Stop

    def _request(
        self, run: Run, messages: list[ChatCompletionMessageParam], records: list[RunPrompt]
    ) -> ChatRequest | None:
        """The next request, or None if the run's token budgets do not allow another call."""
        request = prompt.request(run, messages, self.rt.tools, tool_rounds=len(records))
        used_prompt = sum(r.usage.prompt_tokens for r in records if r.usage)
        used_completion = sum(r.usage.completion_tokens for r in records if r.usage)
        if run.max_prompt_tokens is not None:
            tokens = self.rt.tokens.prompt(messages, request.get("tools"))  # type: ignore[arg-type]
            if used_prompt + tokens > run.max_prompt_tokens:
                finish(self.rt, run.id, "incomplete", incomplete_reason="max_prompt_tokens")
                return None
        if run.max_completion_tokens is not None:
            remaining = run.max_completion_tokens - used_completion
            if remaining <= 0:
                finish(self.rt, run.id, "incomplete", incomplete_reason="max_completion_tokens")
                return None
            request["max_completion_tokens"] = remaining
        return request

    # -- one model call, streamed ---------------------------------------------

    def _call_model(self, run: Run, owner: str, request: ChatRequest, record: RunPrompt) -> _Call:
        rt = self.rt
        call = _Call(record)
        function_names = {t.function.name for t in run.tools if t.type == "function"}
        for chunk in rt.backend.stream(request):
            call.served_by = chunk.model or call.served_by
            if run.id in rt.cancel_requests:
                if call.message is not None:  # a cancelled answer keeps the words it had
                    rt.store.update(MESSAGES, steps.with_text(call.message, "".join(call.text)))
                self._check(run)
            if chunk.usage is not None:
                call.usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta.content:
                    self._on_text(run, owner, call, choice.delta.content)
                for delta in choice.delta.tool_calls or []:
                    self._on_tool_call_delta(run, owner, call, delta, function_names)
                if choice.finish_reason:
                    call.finish_reason = choice.finish_reason
        if call.usage is None:  # a backend that forgot the usage chunk: count it ourselves
            prompt_tokens = rt.tokens.prompt(request["messages"], request.get("tools"))  # type: ignore[arg-type]
            completion = len(call.text) + len(call.calls)
            call.usage = CompletionUsage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion,
                total_tokens=prompt_tokens + completion,
            )
        if call.message is None and not call.calls:  # an empty answer is still an answer
            call.message, call.message_step = steps.new_message(rt, run, owner)
        self._close_message(call, None if call.calls else call.usage)
        response: dict[str, Any] = {"role": "assistant", "content": "".join(call.text) or None}
        if call.calls:
            response["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in call.calls.values()
            ]
        step_ids = [s.id for s in (call.message_step, call.tool_step) if s is not None]
        record = record.model_copy(
            update={
                "response": response,
                "finish_reason": call.finish_reason,
                "usage": call.usage,
                "step_ids": step_ids,
                "served_by": call.served_by,
            }
        )
        call.record = record
        rt.store.update(PROMPTS, record)
        return call

    def _on_text(self, run: Run, owner: str, call: _Call, text: str) -> None:
        first = call.message is None
        if call.message is None:
            call.message, call.message_step = steps.new_message(self.rt, run, owner)
        elif call.message.status != "in_progress":
            return  # text after the tool calls: the message is already closed
        call.text.append(text)
        delta: dict[str, Any] = {"value": text}
        if first:
            delta["annotations"] = []  # so the client's snapshot becomes a complete Text
        event = MessageDeltaEvent.model_validate(
            {
                "id": call.message.id,
                "object": "thread.message.delta",
                "delta": {"content": [{"index": 0, "type": "text", "text": delta}]},
            }
        )
        self.rt.hub.publish(run.id, "thread.message.delta", event)

    def _close_message(self, call: _Call, usage: CompletionUsage | None) -> None:
        if (
            call.message is None
            or call.message_step is None
            or call.message.status != "in_progress"
        ):
            return
        cut = call.finish_reason == "length"
        call.message = steps.end_message(self.rt, call.message, "".join(call.text), cut=cut)
        steps.complete_step(self.rt, call.message_step.id, usage)

    def _on_tool_call_delta(
        self, run: Run, owner: str, call: _Call, delta: Any, function_names: set[str]
    ) -> None:
        if call.tool_step is None:
            self._close_message(call, None)  # the text part of the answer is over
            call.tool_step = steps.new_step(
                self.rt, run, owner, {"type": "tool_calls", "tool_calls": []}
            )
        entry = call.calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
        function = delta.function
        entry["id"] = delta.id or entry["id"] or new_id("call")
        entry["name"] += (function.name or "") if function else ""
        entry["arguments"] += (function.arguments or "") if function else ""
        if entry["name"] not in function_names:
            return  # a server-side tool: its delta is published once it has run
        streamed: dict[str, Any] = {"index": delta.index, "type": "function"}
        if delta.id or (function and function.name):
            streamed["id"] = entry["id"]
        if function is not None:
            streamed["function"] = function.model_dump(exclude_none=True)
        self.rt.hub.publish(
            run.id, "thread.run.step.delta", _step_delta(call.tool_step.id, streamed)
        )

    def _complete_tool_step(self, record: RunPrompt) -> None:
        """After tool outputs were submitted: the paused ``tool_calls`` step is done."""
        for step_id in record.step_ids:
            step = self.rt.store.get(RUN_STEPS, None, step_id)
            if step.type == "tool_calls" and step.status == "in_progress":
                steps.complete_step(self.rt, step_id, record.usage)

    # -- tools ---------------------------------------------------------------

    def _run_tools(
        self, run: Run, owner: str, thread: Thread, assistant: Assistant | None, call: _Call
    ) -> bool:
        """Run server-side calls now; True if the run paused for function outputs."""
        assert call.tool_step is not None
        function_names = {t.function.name for t in run.tools if t.type == "function"}
        server_tools: dict[str, AssistantTool] = {
            t.type: t for t in run.tools if t.type != "function"
        }
        tool_calls: list[ToolCall] = []
        pending: list[dict[str, Any]] = []
        outputs = dict(call.record.tool_outputs)
        failure: str | None = None
        for index, entry in sorted(call.calls.items()):
            if failure is not None:
                break  # a call hit a limit: the step fails, later calls do not run
            name = entry["name"]
            if name in function_names:
                tool_calls.append(
                    _TOOL_CALL.validate_python(
                        {
                            "id": entry["id"],
                            "type": "function",
                            "function": {
                                "name": name,
                                "arguments": entry["arguments"],
                                "output": None,
                            },
                        }
                    )
                )
                pending.append(
                    {
                        "id": entry["id"],
                        "type": "function",
                        "function": {"name": name, "arguments": entry["arguments"]},
                    }
                )
                continue
            if name not in server_tools:
                raise RunFailure(f"The model called a tool this run does not have: '{name}'.")
            executor = self.rt.tools.executor(name)
            context = ToolContext(
                owner=owner,
                thread=thread,
                assistant=assistant,
                run_id=run.id,
                tool=server_tools[name],
            )
            try:
                result = executor(entry["id"], _arguments(entry["arguments"]), context)
            except Exception as exc:
                raise RunFailure(f"The {name} tool failed: {exc}") from exc
            self._check(run)
            outputs[entry["id"]] = result.output
            tool_calls.append(result.call)
            failure = result.error
            streamed = _indexed(
                {"index": index, **result.call.model_dump(mode="json", exclude_none=True)}
            )
            self.rt.hub.publish(
                run.id, "thread.run.step.delta", _step_delta(call.tool_step.id, streamed)
            )
        step = call.tool_step.model_copy(
            update={
                "step_details": call.tool_step.step_details.model_copy(
                    update={"tool_calls": tool_calls}
                )
            }
        )
        self.rt.store.update(RUN_STEPS, step)
        call.tool_step = step
        call.record = call.record.model_copy(update={"tool_outputs": outputs})
        self.rt.store.update(PROMPTS, call.record)
        if failure is not None:
            raise RunFailure(failure)  # the step (still in progress) is failed with the run
        if not pending:
            return False
        paused = transition(
            self.rt,
            run.id,
            "requires_action",
            ("in_progress",),
            required_action=RequiredAction.model_validate(
                {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": pending}}
            ),
        )
        if paused is None:
            self._check(run)
        return True


def _arguments(text: str) -> dict[str, Any]:
    """A call's arguments; a model that wrote something other than a JSON object
    (small models often write bare code) gets it passed on as ``{"raw": text}``."""
    try:
        parsed = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {"raw": text}
    return parsed if isinstance(parsed, dict) else {"raw": text}


def _indexed(value: Any) -> Any:
    """A whole tool call as a delta: deltas number the entries of their lists."""
    if isinstance(value, dict):
        return {key: _indexed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [
            {"index": i, **_indexed(item)} if isinstance(item, dict) else item
            for i, item in enumerate(value)
        ]
    return value


def _step_delta(step_id: str, tool_call: dict[str, Any]) -> RunStepDeltaEvent:
    return RunStepDeltaEvent.model_validate(
        {
            "id": step_id,
            "object": "thread.run.step.delta",
            "delta": {"step_details": {"type": "tool_calls", "tool_calls": [tool_call]}},
        }
    )
