"""The run lifecycle: completion, the function-call round trip, cancel, expiry, budgets."""

from __future__ import annotations

import threading

from openai.types.beta import Assistant
from openai.types.beta.threads.runs import CodeInterpreterToolCall

from nbext.api.services import AssistantsService
from nbext.store import ListQuery
from nbext.tools.registry import ToolContext, ToolRegistry, ToolResult

from .helpers import OWNER, WEATHER, FakeClock, error_of, wait_run
from .scripted_backend import Reply, ScriptedBackend


def _thread(service: AssistantsService, *texts: str) -> str:
    messages = [{"role": "user", "content": t} for t in texts]
    return service.threads.create(OWNER, {"messages": messages}).id


def test_run_completes_with_an_assistant_message(service, backend, assistant):
    backend.script(Reply(text="Hello there"))
    thread_id = _thread(service, "Hi!")
    run = service.runs.create(OWNER, thread_id, {"assistant_id": assistant.id})
    assert run.status == "queued" and run.expires_at == run.created_at + 600
    run = wait_run(service, run)
    assert run.status == "completed"
    assert run.completed_at and run.started_at and run.expires_at is None
    assert run.instructions == "Be brief." and run.tools[0].type == "function"
    messages = service.messages.list(OWNER, thread_id, ListQuery(order="asc")).data
    assert [m.role for m in messages] == ["user", "assistant"]
    answer = messages[1]
    assert answer.content[0].text.value == "Hello there"
    assert (answer.run_id, answer.assistant_id, answer.status) == (
        run.id,
        assistant.id,
        "completed",
    )
    only_run = service.messages.list(OWNER, thread_id, run_id=run.id).data
    assert [m.id for m in only_run] == [answer.id]
    request = backend.requests[0]
    assert request["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi!"},
    ]
    assert request["tools"][0]["function"]["name"] == "get_weather"
    # Sampling nobody set stays unset, so the backend's own default applies.
    assert (run.temperature, run.top_p) == (None, None)
    assert "temperature" not in request and "top_p" not in request


def test_function_call_round_trip(service, backend, assistant):
    backend.script(
        Reply(tool_calls=[("get_weather", {"city": "Paris"})]), Reply(text="It is sunny.")
    )
    thread_id = _thread(service, "Weather in Paris?")
    run = wait_run(service, service.runs.create(OWNER, thread_id, {"assistant_id": assistant.id}))
    assert run.status == "requires_action"
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("get_weather", '{"city": "Paris"}')
    ]
    assert run.usage is None  # not final yet

    bad = error_of(
        service.runs.submit_tool_outputs,
        OWNER,
        thread_id,
        run.id,
        {"tool_outputs": [{"tool_call_id": "call_nope", "output": "x"}]},
    )
    assert bad.param == "tool_outputs[0].tool_call_id"

    resumed = service.runs.submit_tool_outputs(
        OWNER, thread_id, run.id, {"tool_outputs": [{"tool_call_id": calls[0].id, "output": "22C"}]}
    )
    assert resumed.status == "queued" and resumed.required_action is None
    run = wait_run(service, resumed)
    assert run.status == "completed"

    steps = service.steps.list(OWNER, thread_id, run.id, ListQuery(order="asc")).data
    assert [(s.type, s.status) for s in steps] == [
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]
    call = steps[0].step_details.tool_calls[0]
    assert (call.id, call.function.output) == (calls[0].id, "22C")
    message_id = steps[1].step_details.message_creation.message_id
    assert (
        service.messages.retrieve(OWNER, thread_id, message_id).content[0].text.value
        == "It is sunny."
    )
    assert service.steps.retrieve(OWNER, thread_id, run.id, steps[0].id) == steps[0]

    # Usage: each model call is credited to its step, and the run totals them.
    prompts = service.runs.prompts(OWNER, thread_id, run.id).data
    assert [p.index for p in prompts] == [0, 1]
    for step, prompt in zip(steps, prompts, strict=True):
        assert step.usage.prompt_tokens == prompt.usage.prompt_tokens > 0
        assert step.usage.completion_tokens == prompt.usage.completion_tokens > 0
    assert run.usage.total_tokens == sum(s.usage.total_tokens for s in steps)
    # The second request is the first, plus the model's call and the tool's answer.
    second = prompts[1].request["messages"]
    assert second[:-2] == prompts[0].request["messages"]
    assert second[-2]["tool_calls"][0]["id"] == calls[0].id
    assert second[-1] == {"role": "tool", "tool_call_id": calls[0].id, "content": "22C"}
    assert backend.requests == [p.request for p in prompts]


def test_cancel_in_progress_keeps_partial_text(service, backend, assistant):
    gate = threading.Event()
    backend.script(Reply(text="Once upon a time", gate=gate))
    thread_id = _thread(service, "Tell me a story")
    run = service.runs.create(OWNER, thread_id, {"assistant_id": assistant.id})
    assert backend.streaming.wait(5)
    cancelling = service.runs.cancel(OWNER, thread_id, run.id)
    assert cancelling.status == "cancelling"
    gate.set()
    run = wait_run(service, run)
    assert run.status == "cancelled" and run.cancelled_at
    message = service.messages.list(OWNER, thread_id, run_id=run.id).data[0]
    assert message.status == "incomplete"
    assert message.incomplete_details.reason == "run_cancelled"
    assert message.content[0].text.value == "Once"
    step = service.steps.list(OWNER, thread_id, run.id).data[0]
    assert step.status == "cancelled" and step.cancelled_at
    assert error_of(service.runs.cancel, OWNER, thread_id, run.id).message == (
        "Cannot cancel run with status 'cancelled'."
    )


def test_cancel_while_waiting_for_tool_outputs(service, backend, assistant):
    backend.script(Reply(tool_calls=[("get_weather", {"city": "Oslo"})]))
    thread_id = _thread(service, "Weather?")
    run = wait_run(service, service.runs.create(OWNER, thread_id, {"assistant_id": assistant.id}))
    run = service.runs.cancel(OWNER, thread_id, run.id)
    assert run.status == "cancelled" and run.required_action is None
    assert service.steps.list(OWNER, thread_id, run.id).data[0].status == "cancelled"


def test_requires_action_expires_after_ten_minutes(service, backend, assistant, clock: FakeClock):
    backend.script(Reply(tool_calls=[("get_weather", {"city": "Rome"})]))
    thread_id = _thread(service, "Weather?")
    run = wait_run(service, service.runs.create(OWNER, thread_id, {"assistant_id": assistant.id}))
    assert run.status == "requires_action"
    clock.advance(601)
    run = service.runs.retrieve(OWNER, thread_id, run.id)
    assert run.status == "expired" and run.expires_at
    step = service.steps.list(OWNER, thread_id, run.id).data[0]
    assert step.status == "expired" and step.expired_at
    late = error_of(
        service.runs.submit_tool_outputs,
        OWNER,
        thread_id,
        run.id,
        {"tool_outputs": [{"tool_call_id": "x", "output": "y"}]},
    )
    assert late.message == 'Runs in status "expired" do not accept tool outputs.'
    # The thread is free again.
    service.messages.create(OWNER, thread_id, {"role": "user", "content": "still there?"})


def test_incomplete_when_the_completion_budget_runs_out(service, backend, assistant):
    backend.script(Reply(text=" ".join(["word"] * 300)))
    thread_id = _thread(service, "Talk a lot")
    run = service.runs.create(
        OWNER, thread_id, {"assistant_id": assistant.id, "max_completion_tokens": 256}
    )
    run = wait_run(service, run)
    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage.completion_tokens == 256
    assert backend.requests[0]["max_completion_tokens"] == 256
    message = service.messages.list(OWNER, thread_id, run_id=run.id).data[0]
    assert message.status == "incomplete" and message.incomplete_details.reason == "max_tokens"


def test_completion_budget_is_shared_by_the_calls_of_a_run(service, backend, assistant):
    backend.script(
        Reply(text=" ".join(["thinking"] * 200), tool_calls=[("get_weather", {"city": "Nice"})]),
        Reply(text=" ".join(["answer"] * 100)),
    )
    thread_id = _thread(service, "Weather?")
    body = {"assistant_id": assistant.id, "max_completion_tokens": 256}
    run = wait_run(service, service.runs.create(OWNER, thread_id, body))
    call_id = run.required_action.submit_tool_outputs.tool_calls[0].id
    service.runs.submit_tool_outputs(
        OWNER, thread_id, run.id, {"tool_outputs": [{"tool_call_id": call_id, "output": "ok"}]}
    )
    run = wait_run(service, run)
    used_first = 200 + 3  # the text and the call (name + two argument words)
    assert backend.requests[1]["max_completion_tokens"] == 256 - used_first
    assert run.status == "incomplete" and run.incomplete_details.reason == "max_completion_tokens"
    # One call wrote text and a tool call: its usage is credited once, to its last step.
    steps = service.steps.list(OWNER, thread_id, run.id, ListQuery(order="asc")).data
    assert [s.type for s in steps] == ["message_creation", "tool_calls", "message_creation"]
    assert steps[0].usage.total_tokens == 0
    assert sum(s.usage.total_tokens for s in steps) == run.usage.total_tokens


def test_incomplete_when_the_prompt_budget_runs_out(service, backend, assistant):
    # The first prompt fits in 256 tokens, the second (with a long tool output) does not.
    backend.script(Reply(tool_calls=[("get_weather", {"city": "Lima"})]))
    thread_id = _thread(service, "Weather?")
    body = {"assistant_id": assistant.id, "max_prompt_tokens": 256}
    run = wait_run(service, service.runs.create(OWNER, thread_id, body))
    call_id = run.required_action.submit_tool_outputs.tool_calls[0].id
    output = " ".join(["data"] * 300)
    service.runs.submit_tool_outputs(
        OWNER, thread_id, run.id, {"tool_outputs": [{"tool_call_id": call_id, "output": output}]}
    )
    run = wait_run(service, run)
    assert run.status == "incomplete" and run.incomplete_details.reason == "max_prompt_tokens"
    assert len(backend.requests) == 1


def test_incomplete_when_not_even_the_last_message_fits_the_prompt_budget(service, assistant):
    thread_id = _thread(service, " ".join(["long"] * 400))
    body = {"assistant_id": assistant.id, "max_prompt_tokens": 256}
    run = wait_run(service, service.runs.create(OWNER, thread_id, body))
    assert run.status == "incomplete" and run.incomplete_details.reason == "max_prompt_tokens"
    assert run.usage.total_tokens == 0


def test_backend_error_fails_the_run(service, backend, assistant):
    from nbext.errors import BackendError

    backend.script(Reply(error=BackendError("The model server at http://x is unreachable.")))
    thread_id = _thread(service, "Hi")
    run = wait_run(service, service.runs.create(OWNER, thread_id, {"assistant_id": assistant.id}))
    assert run.status == "failed" and run.failed_at
    assert run.last_error.code == "server_error"
    assert run.last_error.message == "The model server at http://x is unreachable."


def test_busy_thread_refuses_messages_and_runs(service, backend, assistant):
    gate = threading.Event()
    backend.script(Reply(text="Working on it", gate=gate))
    thread_id = _thread(service, "Hi")
    run = service.runs.create(OWNER, thread_id, {"assistant_id": assistant.id})
    try:
        busy = error_of(service.messages.create, OWNER, thread_id, {"role": "user", "content": "x"})
        assert busy.status == 400
        assert busy.message == f"Can't add messages to {thread_id} while a run {run.id} is active."
        again = error_of(service.runs.create, OWNER, thread_id, {"assistant_id": assistant.id})
        assert again.message == f"Thread {thread_id} already has an active run {run.id}."
    finally:
        gate.set()
    assert wait_run(service, run).status == "completed"
    service.messages.create(OWNER, thread_id, {"role": "user", "content": "now it works"})


def test_run_overrides_and_additional_messages(service, backend, assistant):
    backend.script(Reply(text="ok"))
    thread_id = _thread(service, "first")
    body = {
        "assistant_id": assistant.id,
        "model": "other-model",
        "instructions": "Speak French.",
        "additional_instructions": "Be short.",
        "additional_messages": [{"role": "user", "content": "second"}],
        "tools": [],
        "temperature": 0.2,
        "top_p": 0.5,
        "response_format": {"type": "json_object"},
        "metadata": {"lesson": "3"},
    }
    run = wait_run(service, service.runs.create(OWNER, thread_id, body))
    assert (run.model, run.instructions, run.tools) == (
        "other-model",
        "Speak French.\n\nBe short.",
        [],
    )
    request = backend.requests[0]
    assert request["model"] == "other-model" and "tools" not in request
    assert (request["temperature"], request["top_p"]) == (0.2, 0.5)
    assert request["response_format"] == {"type": "json_object"}
    assert [m["content"] for m in request["messages"]] == [
        "Speak French.\n\nBe short.",
        "first",
        "second",
    ]
    updated = service.runs.update(OWNER, thread_id, run.id, {"metadata": {"lesson": "4"}})
    assert updated.metadata == {"lesson": "4"} and updated.status == "completed"


def test_tool_choice_is_passed_as_chat_tool_choice(service, backend, assistant):
    backend.script(Reply(tool_calls=[("get_weather", {"city": "Bern"})]))
    thread_id = _thread(service, "Hi")
    body = {
        "assistant_id": assistant.id,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
    }
    run = wait_run(service, service.runs.create(OWNER, thread_id, body))
    assert run.status == "requires_action"
    assert backend.requests[0]["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }
    assert backend.requests[0]["parallel_tool_calls"] is False
    service.runs.cancel(OWNER, thread_id, run.id)
    wrong = error_of(
        service.runs.create,
        OWNER,
        thread_id,
        {
            "assistant_id": assistant.id,
            "tool_choice": {"type": "function", "function": {"name": "nope"}},
        },
    )
    assert wrong.param == "tool_choice.function.name"


def test_create_thread_and_run(service, backend, assistant):
    backend.script(Reply(text="Done"))
    run = service.runs.create_and_run(
        OWNER,
        {
            "assistant_id": assistant.id,
            "thread": {"messages": [{"role": "user", "content": "Go"}], "metadata": {"k": "v"}},
        },
    )
    assert service.threads.retrieve(OWNER, run.thread_id).metadata == {"k": "v"}
    assert wait_run(service, run).status == "completed"
    assert len(service.messages.list(OWNER, run.thread_id).data) == 2
    missing = error_of(service.runs.create_and_run, OWNER, {"assistant_id": "asst_missing"})
    assert missing.status == 404


def test_server_side_tool_without_executor_fails_clearly(service, backend):
    helper = service.assistants.create(
        OWNER, {"model": "scripted", "tools": [{"type": "code_interpreter"}]}
    )
    backend.script(Reply(tool_calls=[("code_interpreter", {"code": "print(2 + 2)"})]))
    thread_id = _thread(service, "What is 2 + 2?")
    run = wait_run(service, service.runs.create(OWNER, thread_id, {"assistant_id": helper.id}))
    assert run.status == "failed" and run.last_error.code == "server_error"
    assert "has no code_interpreter executor registered" in run.last_error.message
    assert backend.requests[0]["tools"][0]["function"]["name"] == "code_interpreter"


def test_server_side_tool_runs_inside_the_run(db_url, clock):
    from nbext.store import Store

    seen: list[tuple[str, dict, ToolContext]] = []

    def run_code(call_id: str, arguments: dict, context: ToolContext) -> ToolResult:
        seen.append((call_id, arguments, context))
        call = CodeInterpreterToolCall.model_validate(
            {
                "id": call_id,
                "type": "code_interpreter",
                "code_interpreter": {
                    "input": arguments["code"],
                    "outputs": [{"type": "logs", "logs": "4\n"}],
                },
            }
        )
        return ToolResult(output="4\n", call=call)

    backend = ScriptedBackend(
        Reply(tool_calls=[("code_interpreter", {"code": "print(2 + 2)"})]), Reply(text="It is 4.")
    )
    tools = ToolRegistry()
    tools.register("code_interpreter", run_code)
    service = AssistantsService(Store(db_url), backend, tools=tools, clock=clock)
    try:
        helper: Assistant = service.assistants.create(
            OWNER, {"model": "scripted", "tools": [{"type": "code_interpreter"}, WEATHER]}
        )
        thread_id = _thread(service, "What is 2 + 2?")
        run = wait_run(service, service.runs.create(OWNER, thread_id, {"assistant_id": helper.id}))
        assert run.status == "completed"  # no requires_action: the server ran the tool
        assert seen[0][1] == {"code": "print(2 + 2)"} and seen[0][2].run_id == run.id
        step = service.steps.list(OWNER, thread_id, run.id, ListQuery(order="asc")).data[0]
        call = step.step_details.tool_calls[0]
        assert call.type == "code_interpreter" and call.code_interpreter.outputs[0].logs == "4\n"
        assert backend.requests[1]["messages"][-1]["content"] == "4\n"
    finally:
        service.close()


def test_a_run_that_keeps_calling_tools_must_answer_after_the_round_limit(db_url, clock):
    from nbext.engine.prompt import MAX_TOOL_ROUNDS
    from nbext.store import Store

    def failing_code(call_id: str, arguments: dict, context: ToolContext) -> ToolResult:
        call = CodeInterpreterToolCall.model_validate(
            {
                "id": call_id,
                "type": "code_interpreter",
                "code_interpreter": {"input": arguments["code"], "outputs": []},
            }
        )
        return ToolResult(output="The code failed: NameError", call=call)

    retry = Reply(tool_calls=[("code_interpreter", {"code": "print(fib(20))"})])
    backend = ScriptedBackend(*[retry] * MAX_TOOL_ROUNDS, Reply(text="I could not run it."))
    tools = ToolRegistry()
    tools.register("code_interpreter", failing_code)
    service = AssistantsService(Store(db_url), backend, tools=tools, clock=clock)
    try:
        helper = service.assistants.create(
            OWNER, {"model": "scripted", "tools": [{"type": "code_interpreter"}]}
        )
        thread_id = _thread(service, "Fibonacci, please.")
        run = wait_run(service, service.runs.create(OWNER, thread_id, {"assistant_id": helper.id}))
        assert run.status == "completed"
        choices = [request.get("tool_choice") for request in backend.requests]
        assert choices == ["auto"] * MAX_TOOL_ROUNDS + ["none"]
    finally:
        service.close()
