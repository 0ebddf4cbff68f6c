"""Check cells of the tutorials' exercises: a friendly verdict, never an exception.

Each check takes what the learner built and returns one sentence that starts
with "Well done" or "Not yet", so a notebook cell can show it as is and a
test can feed it wrong answers and see them refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any


def _roles(messages: Sequence[dict[str, Any]]) -> list[str]:
    return [str(m.get("role")) for m in messages]


def check_quiz(conversation: Any) -> str:
    """00: a history that starts with a system message and holds two questions."""
    if not isinstance(conversation, list):
        return "Not yet: `quiz` should be the list that --history quiz keeps for you."
    roles = _roles(conversation)
    if roles[:1] != ["system"]:
        return "Not yet: the first message should be the system message (use --system)."
    if roles.count("user") < 2:
        return f"Not yet: ask two questions; the history holds {roles.count('user')}."
    return f"Well done: {len(conversation)} messages, all of them resent on the next call."


def check_json_city(text: Any) -> str:
    """01: the model's answer parses as a JSON object with ``city`` and ``country``."""
    if not isinstance(text, str):
        return "Not yet: pass the message text, e.g. reply.choices[0].message.content."
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return "Not yet: that is not JSON. Ask for response_format={'type': 'json_object'}."
    if not isinstance(value, dict) or not {"city", "country"} <= set(value):
        return "Not yet: the object needs the keys 'city' and 'country' (name them in the prompt)."
    return f"Well done: {value['city']} is in {value['country']}, as parseable JSON."


def check_keep_last(keep_last: Callable[[list[dict[str, Any]], int], list[dict[str, Any]]]) -> str:
    """02: ``keep_last(history, n)`` keeps the system message and the last ``n`` others."""
    history = [
        {"role": "system", "content": "Be brief."},
        *[
            {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"}
            for i in range(6)
        ],
    ]
    original = [dict(m) for m in history]
    try:
        kept = keep_last(history, 2)
    except Exception as error:  # the learner's code: report, don't raise
        return f"Not yet: keep_last raised {type(error).__name__}: {error}."
    if history != original:
        return "Not yet: keep_last changed the history it was given; return a new list."
    if not isinstance(kept, list) or not kept or kept[0] != history[0]:
        return "Not yet: the system message must stay first."
    if kept[1:] != history[-2:]:
        return "Not yet: after the system message keep exactly the last n messages, in order."
    return "Well done: the system message stays, the oldest turns go."


def check_thread_to_items(thread_to_items: Callable[[list[Any]], Any], messages: list[Any]) -> str:
    """09: thread messages (oldest first) become Responses input message items."""
    from openai.types.responses import ResponseInputParam
    from pydantic import TypeAdapter, ValidationError

    try:
        items = thread_to_items(messages)
    except Exception as error:  # the learner's code: report, don't raise
        return f"Not yet: thread_to_items raised {type(error).__name__}: {error}."
    if not isinstance(items, list) or len(items) != len(messages):
        return f"Not yet: expected one item per message ({len(messages)}), got {items!r:.80}."
    try:
        TypeAdapter(ResponseInputParam).validate_python(items)
    except ValidationError:
        return "Not yet: each item should look like {'role': 'user', 'content': 'text'}."
    expected = [(m.role, m.content[0].text.value) for m in messages]
    if [(i.get("role"), i.get("content")) for i in items] != expected:
        return "Not yet: keep the messages in order, with their roles and their text."
    return f"Well done: {len(items)} items, ready for responses.create(input=...)."


def check_support_bot(recommendation: Any) -> str:
    """08: a bot that remembers customers and searches manuals wants server-side state."""
    api = getattr(recommendation, "api", None)
    if not isinstance(api, str):
        return "Not yet: pass what recommend(...) returned."
    if not api.startswith("Assistants"):
        return (
            "Not yet: remembering each customer for a week is state, and searching manuals "
            "is a server-side tool. Answer those two questions with True."
        )
    return "Well done: state and file search both point to a stateful server."


def check_first_run(run: Any, steps: Any, messages: Any) -> str:
    """03: a finished run, its steps and its thread's messages, and how they point at each other."""
    status = getattr(run, "status", None)
    if not isinstance(status, str):
        return "Not yet: pass the Run that create_and_poll returned as the first argument."
    if status != "completed":
        return f"Not yet: the run is {status}; wait for it with create_and_poll."
    if not run.instructions:
        return "Not yet: give your assistant instructions (they become the system message)."
    steps, messages = list(steps or []), list(messages or [])
    if not steps or any(getattr(s, "run_id", None) != run.id for s in steps):
        return "Not yet: pass this run's steps: client.beta.threads.runs.steps.list(run.id, ...)."
    written = [
        s.step_details.message_creation.message_id for s in steps if s.type == "message_creation"
    ]
    if not written:
        return "Not yet: a plain answer is written by a message_creation step; none was passed."
    by_id = {getattr(m, "id", None): m for m in messages}
    if any(getattr(m, "thread_id", None) != run.thread_id for m in messages):
        return "Not yet: pass the messages of the run's thread: client.beta.threads.messages.list."
    if not all(i in by_id for i in written):
        return "Not yet: the message the run wrote is missing; list the thread's messages after it."
    if not any(m.role == "user" for m in messages):
        return "Not yet: the thread should hold your question as a user message."
    if any(by_id[i].role != "assistant" or by_id[i].run_id != run.id for i in written):
        return "Not yet: the step should point at an assistant message of this run."
    return (
        f"Well done: the run wrote {len(written)} assistant message on its thread, "
        f"recorded by {len(steps)} step."
    )


def check_keep_auto(keep_auto: Callable[[list[int], int], Any]) -> str:
    """04: ``keep_auto(costs, budget)`` chooses the messages the ``auto`` strategy sends."""
    from nbext.engine.truncation import auto

    cases = [
        ([10, 10, 10], 100),  # everything fits
        ([10, 10, 50], 40),  # not even the newest fits
        ([10, 10, 10, 10, 10, 10, 10], 45),  # head and tail, the middle goes
        ([30, 10, 10, 10, 10, 20], 45),  # the first message does not fit
        ([10, 10, 10, 40, 10, 10, 10], 60),  # the recent part stops at a big message
        ([5, 5], 6),  # only two messages
    ]
    for costs, budget in cases:
        expected = auto(costs, budget)
        wanted = expected.kept if expected is not None else []
        try:
            got = keep_auto(list(costs), budget)
        except Exception as error:  # the learner's code: report, don't raise
            return f"Not yet: keep_auto({costs}, {budget}) raised {type(error).__name__}: {error}."
        got = [] if got is None else got
        if not isinstance(got, (list, tuple)) or list(got) != wanted:
            return (
                f"Not yet: keep_auto({costs}, {budget}) returned {got!r:.60}; "
                f"auto would send the messages {wanted}."
            )
    return "Well done: your keep_auto drops exactly what the server's auto strategy drops."


def check_tool_outputs(
    tool_outputs: Callable[[list[Any], dict[str, Callable[..., Any]]], Any],
) -> str:
    """05: ``tool_outputs(tool_calls, functions)`` builds what ``submit_tool_outputs`` takes."""
    from openai.types.beta.threads import RequiredActionFunctionToolCall

    def get_weather(city: str) -> str:
        return json.dumps({"city": city, "temperature_c": 21})

    def local_time(city: str, hours: int = 24) -> dict[str, Any]:
        return {"city": city, "time": "12:00" if hours == 24 else "12:00 PM"}

    calls = [
        RequiredActionFunctionToolCall.model_validate(
            {"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": args}}
        )
        for n, (name, args) in enumerate(
            [
                ("local_time", '{"city": "Tokyo", "hours": 12}'),
                ("get_weather", '{"city": "Lima"}'),
            ]
        )
    ]
    functions = {"get_weather": get_weather, "local_time": local_time}
    try:
        outputs = tool_outputs(calls, functions)
    except Exception as error:  # the learner's code: report, don't raise
        return f"Not yet: tool_outputs raised {type(error).__name__}: {error}."
    if not isinstance(outputs, list) or len(outputs) != len(calls):
        return f"Not yet: return one output per call ({len(calls)}), not {outputs!r:.80}."
    if not all(isinstance(o, dict) and set(o) == {"tool_call_id", "output"} for o in outputs):
        return "Not yet: each output is a dict with exactly the keys 'tool_call_id' and 'output'."
    if [o["tool_call_id"] for o in outputs] != [c.id for c in calls]:
        return "Not yet: give each output the id of its call (call.id), in the calls' order."
    if not all(isinstance(o["output"], str) for o in outputs):
        return "Not yet: outputs must be strings; turn other values into JSON with json.dumps."
    try:
        values = [json.loads(o["output"]) for o in outputs]
    except json.JSONDecodeError:
        return "Not yet: an output is not JSON text; use json.dumps(value), not str(value)."
    expected = [{"city": "Tokyo", "time": "12:00 PM"}, {"city": "Lima", "temperature_c": 21}]
    if values != expected:
        return (
            "Not yet: run the function the call names, with the call's arguments "
            "(json.loads(call.function.arguments))."
        )
    return "Well done: one JSON output per call, each tied to its call id."


def check_footnotes(with_footnotes: Callable[[Any, dict[str, str]], Any]) -> str:
    """06: ``with_footnotes(text, names)`` turns file_citation markers into numbered notes."""
    from openai.types.beta.threads import Text

    parts = [
        ("Dogs come on Wednesdays", "【0:3†handbook.md】", "file-hb"),
        (" and cats stay home", "【0:4†pets.md】", "file-pets"),
    ]
    link = "sandbox:/mnt/data/days.csv"
    value, annotations = "", []
    for before, marker, file_id in parts:
        value += before
        annotations.append(
            {
                "type": "file_citation",
                "text": marker,
                "start_index": len(value),
                "end_index": len(value) + len(marker),
                "file_citation": {"file_id": file_id},
            }
        )
        value += marker
    value += ". See [days.csv]("
    annotations.append(
        {
            "type": "file_path",
            "text": link,
            "start_index": len(value),
            "end_index": len(value) + len(link),
            "file_path": {"file_id": "file-csv"},
        }
    )
    value += link + ")."
    cited = Text.model_validate({"value": value, "annotations": annotations})
    plain = Text.model_validate({"value": "No sources here.", "annotations": []})
    names = {"file-hb": "handbook.md", "file-pets": "pets.md", "file-csv": "days.csv"}
    expected = (
        "Dogs come on Wednesdays[1] and cats stay home[2]. See [days.csv](" + link + ").",
        ["handbook.md", "pets.md"],
    )
    try:
        got = with_footnotes(cited, dict(names))
        got_plain = with_footnotes(plain, dict(names))
    except Exception as error:  # the learner's code: report, don't raise
        return f"Not yet: with_footnotes raised {type(error).__name__}: {error}."
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"Not yet: return a pair (body, notes), not {got!r:.80}."
    body, notes = got
    if not isinstance(body, str):
        return "Not yet: the first item should be the answer's text with [1], [2] in it."
    if "【" in body:
        return (
            "Not yet: a marker 【…】 is still in the answer; replace each citation's text "
            "(value[a.start_index:a.end_index])."
        )
    if link not in body:
        return "Not yet: only file_citation annotations become footnotes; leave the file link."
    if body != expected[0]:
        return f"Not yet: expected {expected[0]!r}, got {body!r:.120}."
    if not isinstance(notes, (list, tuple)) or list(notes) != expected[1]:
        return f"Not yet: the notes should be the cited files' names in order, {expected[1]}."
    if not isinstance(got_plain, (tuple, list)) or list(got_plain) not in (
        [plain.value, []],
        [plain.value, ()],
    ):
        return "Not yet: an answer without citations should come back as it is, with no notes."
    return "Well done: each marker became a numbered footnote naming its file."


def check_sum_of_squares(steps: Any) -> str:
    """07: a run whose code_interpreter step printed the sum of the squares of 1..100."""
    try:
        steps = list(steps or [])
    except TypeError:
        steps = []
    if not steps or not all(hasattr(s, "step_details") for s in steps):
        return (
            "Not yet: pass the run's steps: "
            "client.beta.threads.runs.steps.list(run.id, thread_id=...).data."
        )
    calls = [
        call
        for step in steps
        if step.type == "tool_calls"
        for call in step.step_details.tool_calls
        if call.type == "code_interpreter"
    ]
    if not calls:
        return (
            "Not yet: no code_interpreter call among these steps; "
            "force one with tool_choice={'type': 'code_interpreter'}."
        )
    failed = [s for s in steps if s.status == "failed"]
    if failed:
        reason = getattr(failed[0].last_error, "message", "no reason given")
        return f"Not yet: a step failed ({reason}); look at the code it ran and try again."
    logs = "".join(
        output.logs
        for call in calls
        for output in call.code_interpreter.outputs
        if output.type == "logs"
    )
    if not logs.strip():
        return "Not yet: the code printed nothing; ask for print(...) in your message."
    if "338350" not in logs:
        return (
            f"Not yet: the code printed {logs.strip()!r:.60}; "
            "that is not the sum of the squares of 1 to 100."
        )
    return "Well done: the sandbox ran the code and printed 338350; the model did not guess it."
