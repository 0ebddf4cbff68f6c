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
