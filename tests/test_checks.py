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
