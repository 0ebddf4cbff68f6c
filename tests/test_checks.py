"""Every exercise's check refuses wrong answers and accepts a right one."""

from __future__ import annotations

from nbext import checks


def test_quiz_check() -> None:
    assert checks.check_quiz("nope").startswith("Not yet")
    assert checks.check_quiz([{"role": "user", "content": "a"}]).startswith("Not yet")
    one_question = [{"role": "system", "content": "s"}, {"role": "user", "content": "a"}]
    assert checks.check_quiz(one_question).startswith("Not yet")
    two = [*one_question, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    assert checks.check_quiz(two).startswith("Well done")


def test_json_city_check() -> None:
    assert checks.check_json_city(None).startswith("Not yet")
    assert checks.check_json_city("Paris, France").startswith("Not yet")
    assert checks.check_json_city('{"city": "Paris"}').startswith("Not yet")
    assert checks.check_json_city('{"city": "Paris", "country": "France"}').startswith("Well done")


def test_keep_last_check() -> None:
    def drops_system(history: list, n: int) -> list:
        return history[-n:]

    def mutates(history: list, n: int) -> list:
        del history[1:-n]
        return history

    def crashes(history: list, n: int) -> list:
        raise ValueError("oops")

    def right(history: list, n: int) -> list:
        return [history[0], *history[1:][-n:]]

    for wrong in (drops_system, mutates, crashes):
        assert checks.check_keep_last(wrong).startswith("Not yet")
    assert checks.check_keep_last(right).startswith("Well done")


def test_thread_to_items_check() -> None:
    from openai.types.beta.threads import Message

    def message(role: str, text: str) -> Message:
        return Message.model_validate(
            {
                "id": f"msg_{text}",
                "object": "thread.message",
                "created_at": 0,
                "thread_id": "thread_x",
                "role": role,
                "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
                "status": "completed",
                "attachments": [],
                "metadata": {},
            }
        )

    thread = [message("user", "hi"), message("assistant", "hello")]

    def right(messages: list) -> list:
        return [{"role": m.role, "content": m.content[0].text.value} for m in messages]

    def reversed_order(messages: list) -> list:
        return right(messages)[::-1]

    def wrong_shape(messages: list) -> list:
        return [m.content[0].text.value for m in messages]

    for wrong in (reversed_order, wrong_shape, lambda m: None):
        assert checks.check_thread_to_items(wrong, thread).startswith("Not yet")
    assert checks.check_thread_to_items(right, thread).startswith("Well done")


def test_support_bot_check() -> None:
    from nbext.widgets.decision_aid import recommend

    stateless = recommend(stateful=False, complex=False, integration=False, overhead=False)
    assert checks.check_support_bot(stateless).startswith("Not yet")
    assert checks.check_support_bot("Assistants").startswith("Not yet")
    stateful = recommend(stateful=True, complex=False, integration=True, overhead=False)
    assert checks.check_support_bot(stateful).startswith("Well done")


def _run(status: str = "completed", instructions: str = "Answer with one word.") -> object:
    from openai.types.beta.threads import Run

    return Run.model_validate(
        {
            "id": "run_1",
            "object": "thread.run",
            "created_at": 0,
            "thread_id": "thread_1",
            "assistant_id": "asst_1",
            "status": status,
            "instructions": instructions,
            "model": "m",
            "tools": [],
            "parallel_tool_calls": True,
        }
    )


def _message(message_id: str, role: str, run_id: str | None, thread_id: str = "thread_1") -> object:
    from openai.types.beta.threads import Message

    return Message.model_validate(
        {
            "id": message_id,
            "object": "thread.message",
            "created_at": 0,
            "thread_id": thread_id,
            "role": role,
            "run_id": run_id,
            "content": [{"type": "text", "text": {"value": "x", "annotations": []}}],
            "status": "completed",
            "attachments": [],
            "metadata": {},
        }
    )


def _step(message_id: str, run_id: str = "run_1") -> object:
    from openai.types.beta.threads.runs import RunStep

    return RunStep.model_validate(
        {
            "id": "step_1",
            "object": "thread.run.step",
            "created_at": 0,
            "assistant_id": "asst_1",
            "thread_id": "thread_1",
            "run_id": run_id,
            "type": "message_creation",
            "status": "completed",
            "step_details": {
                "type": "message_creation",
                "message_creation": {"message_id": message_id},
            },
        }
    )


def test_first_run_check() -> None:
    question, answer = _message("msg_q", "user", None), _message("msg_a", "assistant", "run_1")
    right = (_run(), [_step("msg_a")], [question, answer])
    assert checks.check_first_run(*right).startswith("Well done")
    wrong = [
        ("not a run", [_step("msg_a")], [question, answer]),
        (_run("failed"), [_step("msg_a")], [question, answer]),
        (_run(instructions=""), [_step("msg_a")], [question, answer]),
        (_run(), [], [question, answer]),  # no steps
        (_run(), [_step("msg_a", run_id="run_2")], [question, answer]),  # another run's steps
        (_run(), [_step("msg_a")], [question]),  # the answer is missing
        (_run(), [_step("msg_a")], [answer]),  # no question
        (_run(), [_step("msg_a")], [question, _message("msg_a", "assistant", "run_1", "t2")]),
        (_run(), [_step("msg_q")], [question, answer]),  # points at the user's message
    ]
    for case in wrong:
        assert checks.check_first_run(*case).startswith("Not yet"), case


def test_keep_auto_check() -> None:
    from nbext.engine.truncation import auto

    def right(costs: list, budget: int) -> list:
        chosen = auto(costs, budget)
        return chosen.kept if chosen is not None else []

    def keep_all(costs: list, budget: int) -> list:
        return list(range(len(costs)))

    def newest_only(costs: list, budget: int) -> list:
        kept, used = [], 0
        for index in range(len(costs) - 1, -1, -1):
            if used + costs[index] > budget:
                break
            kept.append(index)
            used += costs[index]
        return sorted(kept)

    def crashes(costs: list, budget: int) -> list:
        raise IndexError("oops")

    for wrong in (keep_all, newest_only, crashes, lambda c, b: "all"):
        assert checks.check_keep_auto(wrong).startswith("Not yet")
    assert checks.check_keep_auto(right).startswith("Well done")


def test_tool_outputs_check() -> None:
    import json

    def right(calls: list, functions: dict) -> list:
        outputs = []
        for call in calls:
            value = functions[call.function.name](**json.loads(call.function.arguments))
            output = value if isinstance(value, str) else json.dumps(value)
            outputs.append({"tool_call_id": call.id, "output": output})
        return outputs

    def str_not_json(calls: list, functions: dict) -> list:
        return [{**o, "output": str(json.loads(o["output"]))} for o in right(calls, functions)]

    def not_strings(calls: list, functions: dict) -> list:
        return [{**o, "output": json.loads(o["output"])} for o in right(calls, functions)]

    def no_ids(calls: list, functions: dict) -> list:
        return [{"tool_call_id": "x", "output": o["output"]} for o in right(calls, functions)]

    def reversed_order(calls: list, functions: dict) -> list:
        return right(calls, functions)[::-1]

    def ignores_arguments(calls: list, functions: dict) -> list:
        return [
            {"tool_call_id": c.id, "output": json.dumps(functions[c.function.name]("Paris"))}
            for c in calls
        ]

    def wrong_keys(calls: list, functions: dict) -> list:
        return [{"id": o["tool_call_id"], "output": o["output"]} for o in right(calls, functions)]

    wrong = (str_not_json, not_strings, no_ids, reversed_order, ignores_arguments, wrong_keys)
    for case in (*wrong, lambda c, f: None, lambda c, f: 1 / 0):
        assert checks.check_tool_outputs(case).startswith("Not yet"), case
    assert checks.check_tool_outputs(right).startswith("Well done")


def test_footnotes_check() -> None:
    def right(text: object, names: dict) -> tuple:
        body, notes = text.value, []
        citations = [a for a in text.annotations if a.type == "file_citation"]
        for a in sorted(citations, key=lambda a: a.start_index, reverse=True):
            body = body[: a.start_index] + f"[{len(citations) - len(notes)}]" + body[a.end_index :]
            notes.insert(0, names[a.file_citation.file_id])
        return body, notes

    def every_annotation(text: object, names: dict) -> tuple:
        body, notes = text.value, []
        for n, a in enumerate(text.annotations, 1):
            body = body.replace(a.text, f"[{n}]")
            notes.append(names[(a.file_path if a.type == "file_path" else a.file_citation).file_id])
        return body, notes

    def markers_left(text: object, names: dict) -> tuple:
        return text.value, [names[a.file_citation.file_id] for a in text.annotations[:2]]

    def counts_from_zero(text: object, names: dict) -> tuple:
        body, notes = right(text, names)
        return body.replace("[1]", "[0]").replace("[2]", "[1]"), notes

    def ids_not_names(text: object, names: dict) -> tuple:
        body, _notes = right(text, names)
        return body, [a.file_citation.file_id for a in text.annotations[:2]]

    def notes_when_none(text: object, names: dict) -> tuple:
        body, notes = right(text, names)
        return body, notes or ["no sources"]

    def body_only(text: object, names: dict) -> str:
        return right(text, names)[0]

    def crashes(text: object, names: dict) -> tuple:
        return names[text.annotations[0].file_path.file_id], []

    wrong = (every_annotation, markers_left, counts_from_zero, ids_not_names, notes_when_none)
    for case in (*wrong, body_only, crashes, lambda t, n: None, lambda t, n: (t.value,)):
        assert checks.check_footnotes(case).startswith("Not yet"), case
    assert checks.check_footnotes(right).startswith("Well done")


def _code_step(
    logs: str | None, status: str = "completed", kind: str = "code_interpreter"
) -> object:
    from openai.types.beta.threads.runs import RunStep

    outputs = [] if logs is None else [{"type": "logs", "logs": logs}]
    call = (
        {
            "id": "call_1",
            "type": "code_interpreter",
            "code_interpreter": {
                "input": "print(sum(n * n for n in range(1, 101)))",
                "outputs": outputs,
            },
        }
        if kind == "code_interpreter"
        else {"id": "call_1", "type": "file_search", "file_search": {}}
    )
    error = {"code": "server_error", "message": "execution exceeded the 3 s time limit"}
    return RunStep.model_validate(
        {
            "id": "step_1",
            "object": "thread.run.step",
            "created_at": 1,
            "assistant_id": "asst_1",
            "thread_id": "thread_1",
            "run_id": "run_1",
            "type": "tool_calls",
            "status": status,
            "step_details": {"type": "tool_calls", "tool_calls": [call]},
            "last_error": error if status == "failed" else None,
            "cancelled_at": None,
            "completed_at": None,
            "expired_at": None,
            "failed_at": None,
            "usage": None,
        }
    )


def test_sum_of_squares_check() -> None:
    wrong = [
        None,
        "steps",
        [],
        [_code_step(None, kind="file_search")],
        [_code_step("338350\n", status="failed")],
        [_code_step(None)],
        [_code_step("  \n")],
        [_code_step("328350\n")],
    ]
    for case in wrong:
        assert checks.check_sum_of_squares(case).startswith("Not yet"), case
    assert checks.check_sum_of_squares([_code_step("338350\n")]).startswith("Well done")
