"""Every exercise check refuses plausible wrong answers, accepts right ones written differently.

Each check has a table of wrong answers (the mistakes filed in issue 12 and
the ones a learner commonly makes for that exercise) and a table of right
answers; every check answers a skeleton (``...``, None, "TODO", a function
whose body is ``...``) with its "Not yet" hint, and never raises, whatever it
is given.
"""

from __future__ import annotations

import copy
import json
from collections import deque
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from nbext import checks


def wrong(*cases: Any) -> list[Any]:
    """Parametrize rows from (label, case) pairs."""
    return [pytest.param(case, id=label) for label, case in cases]


def refused(verdict: str) -> bool:
    return isinstance(verdict, str) and verdict.startswith("Not yet: ")


def accepted(verdict: str) -> bool:
    return isinstance(verdict, str) and verdict.startswith("Well done: ")


# -- skeletons: every check answers "Not yet" with its hint, never an error ------


def stub_ellipsis(*args: Any) -> Any: ...


def stub_pass(*args: Any) -> Any:
    pass


def stub_raises(*args: Any) -> Any:
    raise NotImplementedError


def stub_docstring(*args: Any) -> Any:
    """TODO: write me."""


def stub_todo_comment(*args: Any) -> Any:
    # TODO: keep the system message, then the last n messages
    ...


SKELETONS = [
    pytest.param(..., id="Ellipsis"),
    pytest.param(None, id="None"),
    pytest.param("TODO", id="TODO"),
    pytest.param("TODO: ask the model", id="TODO-text"),
    pytest.param("...", id="dots-text"),
    pytest.param(stub_ellipsis, id="body-ellipsis"),
    pytest.param(stub_pass, id="body-pass"),
    pytest.param(stub_raises, id="body-raise-NotImplementedError"),
    pytest.param(stub_docstring, id="body-docstring"),
    pytest.param(stub_todo_comment, id="body-TODO-comment"),
]


def _learner_messages() -> list[Any]:
    return [_message("msg_q", "user", None), _message("msg_a", "assistant", "run_1")]


def _call_check(name: str, answer: Any) -> str:
    """Call check ``name`` with ``answer`` where the learner's answer goes."""
    check = getattr(checks, name)
    if name == "check_thread_to_items":
        return check(answer, _learner_messages())
    if name == "check_first_run":
        return check(answer, answer, answer)
    return check(answer)


CHECKS = [
    "check_quiz",
    "check_json_city",
    "check_keep_last",
    "check_first_run",
    "check_keep_auto",
    "check_tool_outputs",
    "check_footnotes",
    "check_sum_of_squares",
    "check_support_bot",
    "check_thread_to_items",
]


@pytest.mark.parametrize("name", CHECKS)
@pytest.mark.parametrize("skeleton", SKELETONS)
def test_a_skeleton_gets_the_hint(name: str, skeleton: Any) -> None:
    verdict = _call_check(name, skeleton)
    assert refused(verdict), verdict
    assert verdict == _call_check(name, ...), "every skeleton form gets the same hint"
    assert "could not read" not in verdict


def test_first_run_hints_when_any_part_is_a_skeleton() -> None:
    right = (_run(), [_step("msg_a")], _learner_messages())
    for index in range(3):
        case = list(right)
        case[index] = ...
        assert checks.check_first_run(*case) == checks.check_first_run(..., ..., ...)


class Hostile:
    """An answer that raises on every attribute, comparison and iteration."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no ==")

    def __iter__(self) -> Any:
        raise RuntimeError("no iter")

    __hash__ = None  # type: ignore[assignment]


MALFORMED = [
    pytest.param(0, id="zero"),
    pytest.param(1.5, id="float"),
    pytest.param(b"bytes", id="bytes"),
    pytest.param({"a": 1}, id="dict"),
    pytest.param([None, 1], id="list-of-junk"),
    pytest.param([{"role": 1}], id="list-of-bad-dicts"),
    pytest.param(object(), id="object"),
    pytest.param(Hostile(), id="hostile-object"),
    pytest.param(lambda *args: 1 / 0, id="function-that-raises"),
    pytest.param(lambda *args: Hostile(), id="function-returning-hostile"),
    pytest.param(lambda *args: [Hostile()], id="function-returning-hostile-list"),
    pytest.param(print, id="builtin"),
    pytest.param(int, id="a-class"),
    pytest.param(iter([1, 2]), id="iterator"),
]


@pytest.mark.parametrize("name", CHECKS)
@pytest.mark.parametrize("answer", MALFORMED)
def test_a_malformed_answer_gets_not_yet_never_an_exception(name: str, answer: Any) -> None:
    assert refused(_call_check(name, answer))


def test_wrong_arity_is_a_verdict_too() -> None:
    assert refused(checks.check_first_run(_run()))  # type: ignore[call-arg]
    assert refused(checks.check_thread_to_items(lambda m: []))  # type: ignore[call-arg]


# -- 00 quiz ------------------------------------------------------------------------

SYSTEM = {"role": "system", "content": "Answer with one word only."}


def quiz(*turns: str, system: dict[str, Any] | None = SYSTEM) -> list[Any]:
    """A history: the system message, then alternating user/assistant texts."""
    messages: list[Any] = [system] if system else []
    for index, text in enumerate(turns):
        messages.append({"role": "user" if index % 2 == 0 else "assistant", "content": text})
    return messages


QUIZ = quiz("What colour is the sky?", "Blue", "And grass?", "Green")


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("not-a-list", "nope"),
        ("a-dict", {"role": "system", "content": "Answer with one word only."}),
        ("empty", []),
        ("no-system", quiz("What colour is the sky?", "Blue", "And grass?", "Green", system=None)),
        ("system-last", [*quiz("Q1?", "Blue", "Q2?", "Green", system=None), SYSTEM]),
        (
            "system-not-one-word",
            quiz(
                "Q1?",
                "Blue",
                "Q2?",
                "Green",
                system={"role": "system", "content": "You are a helpful assistant."},
            ),
        ),
        (
            "system-one-sentence",
            quiz(
                "Q1?",
                "Blue",
                "Q2?",
                "Green",
                system={"role": "system", "content": "Answer in one sentence."},
            ),
        ),
        ("one-question", quiz("What colour is the sky?", "Blue")),
        ("no-assistant-replies", quiz("Q1?") + quiz("Q2?", system=None)),
        ("last-question-unanswered", quiz("Q1?", "Blue", "Q2?")),
        (
            "same-question-twice",
            quiz("What colour is the sky?", "Blue", "What colour is the sky?", "Blue"),
        ),
        (
            "long-replies",
            quiz(
                "What colour is the sky?",
                "The sky is blue on a clear day.",
                "And grass?",
                "Grass is usually green.",
            ),
        ),
        ("a-string-item", [SYSTEM, "What colour is the sky?", "Blue", "And grass?", "Green"]),
        ("an-item-without-role", [SYSTEM, {"content": "Q1?"}, {"content": "Blue"}]),
        ("two-system-messages", [*QUIZ[:3], SYSTEM, *QUIZ[3:]]),
        ("reply-without-text", [*QUIZ[:4], {"role": "assistant", "content": None}]),
        ("an-empty-question", quiz("Q1?", "Blue", "   ", "Green")),
        ("a-tool-message", [*QUIZ, {"role": "tool", "content": "x", "tool_call_id": "c"}]),
    ),
)
def test_quiz_refuses(answer: Any) -> None:
    assert refused(checks.check_quiz(answer))


def _sdk_reply(text: str) -> Any:
    from openai.types.chat import ChatCompletionMessage

    return ChatCompletionMessage(role="assistant", content=text)


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("the-notebook", QUIZ),
        (
            "single-word",
            quiz(
                "Q1?",
                "Blue",
                "Q2?",
                "Green",
                system={"role": "system", "content": "Reply with a single word."},
            ),
        ),
        (
            "one-word-answers",
            quiz(
                "Q1?",
                "Blue",
                "Q2?",
                "Green",
                system={"role": "system", "content": "One-word answers only, please."},
            ),
        ),
        (
            "exactly-1-word",
            quiz(
                "Q1?",
                "Blue",
                "Q2?",
                "Green",
                system={"role": "system", "content": "Respond using exactly 1 word."},
            ),
        ),
        ("three-questions", quiz("Q1?", "Blue", "Q2?", "Green", "Q3?", "Red")),
        ("punctuated-replies", quiz("Q1?", "Blue.", "Q2?", "**Green**")),
        ("a-two-word-name", quiz("Largest US city?", "New York", "Capital of Peru?", "Lima")),
        (
            "sdk-reply-objects",
            [
                SYSTEM,
                {"role": "user", "content": "Q1?"},
                _sdk_reply("Blue"),
                {"role": "user", "content": "Q2?"},
                _sdk_reply("Green"),
            ],
        ),
        ("a-tuple", tuple(QUIZ)),
        (
            "text-parts",
            [
                SYSTEM,
                {"role": "user", "content": [{"type": "text", "text": "Q1?"}]},
                {"role": "assistant", "content": "Blue"},
                {"role": "user", "content": "Q2?"},
                {"role": "assistant", "content": "Green"},
            ],
        ),
    ),
)
def test_quiz_accepts(answer: Any) -> None:
    assert accepted(checks.check_quiz(answer))


def test_an_empty_quiz_is_the_skeleton() -> None:
    """The notebook's %%chat cells start as `...`: they leave `quiz` an empty list."""
    assert checks.check_quiz([]) == checks.check_quiz(...)
    assert "`...`" in checks.check_quiz([]) and "--system" in checks.check_quiz([])


def test_a_quiz_hint_says_how_to_start_over() -> None:
    """--system is ignored once the history holds a system message: a fix needs a fresh list."""
    helpful = {"role": "system", "content": "You are a helpful assistant."}
    for answer in (
        quiz("Q1?", "Blue", "Q2?", "Green", system=helpful),
        quiz("Q1?", "Blue", "Q1?", "Blue"),
        quiz("Q1?", "The sky is blue.", "Q2?", "Green"),
        quiz("Q1?", "Blue", "Q2?", "Green", system=None),
    ):
        assert "quiz.clear()" in checks.check_quiz(answer)


def test_quiz_verdict_is_the_notebooks() -> None:
    expected = "Well done: 5 messages, all of them resent on the next call."
    assert checks.check_quiz(QUIZ) == expected


# -- 01 json city ---------------------------------------------------------------------


class _Completion:
    def __init__(self, content: str) -> None:
        message = SimpleNamespace(role="assistant", content=content)
        self.choices = [SimpleNamespace(message=message)]


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("not-text", 42),
        ("empty", ""),
        ("prose", "Paris, France"),
        ("city-only", '{"city": "Paris"}'),
        ("country-on-mars", '{"city": "Tokyo", "country": "Mars"}'),
        ("wrong-country", '{"city": "Paris", "country": "Germany"}'),
        ("paris-texas", '{"city": "Paris", "country": "United States"}'),
        ("swapped", '{"city": "France", "country": "Paris"}'),
        ("capitalised-keys", '{"City": "Paris", "Country": "France"}'),
        ("nested", '{"location": {"city": "Paris", "country": "France"}}'),
        ("fenced", '```json\n{"city": "Paris", "country": "France"}\n```'),
        ("python-dict", "{'city': 'Paris', 'country': 'France'}"),
        ("cut-off", '{"city": "Paris", "coun'),
        ("text-around", 'Here it is: {"city": "Paris", "country": "France"}'),
        ("a-list", '[{"city": "Paris", "country": "France"}]'),
        ("a-json-string", '"Paris"'),
        ("empty-city", '{"city": "", "country": "France"}'),
        ("city-as-list", '{"city": ["Paris"], "country": "France"}'),
        ("country-as-number", '{"city": "Paris", "country": 33}'),
        ("city-with-country", '{"city": "Paris, France", "country": "France"}'),
        ("unknown-city", '{"city": "Atlantis", "country": "Greece"}'),
        ("the-completion", _Completion('{"city": "Paris", "country": "France"}')),
        ("the-message", _Completion('{"city": "Paris", "country": "France"}').choices[0].message),
        ("parsed-but-wrong", {"city": "Paris", "country": "Spain"}),
    ),
)
def test_json_city_refuses(answer: Any) -> None:
    assert refused(checks.check_json_city(answer))


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("plain", '{"city": "Paris", "country": "France"}'),
        ("pretty", '{\n  "city": "Paris",\n  "country": "France"\n}'),
        ("key-order", '{"country": "France", "city": "Paris"}'),
        ("extra-keys", '{"city": "Paris", "country": "France", "population": 2102650}'),
        ("case", '{"city": "PARIS", "country": "france"}'),
        ("country-code", '{"city":"Paris","country":"FR"}'),
        ("official-name", '{"city": "Paris", "country": "French Republic"}'),
        ("accents", '{"city": "Paris", "country": "République française"}'),
        ("escaped-accent", '{"city": "Par\\u00eds", "country": "France"}'),
        ("whitespace", '  {"city": " Paris ", "country": "France"}\n'),
        ("tokyo", '{"city": "Tokyo", "country": "Japan"}'),
        ("london", '{"city": "London", "country": "the U.K."}'),
        ("new-york", '{"city": "New York", "country": "United States of America"}'),
        ("already-parsed", {"city": "Paris", "country": "France"}),
    ),
)
def test_json_city_accepts(answer: Any) -> None:
    assert accepted(checks.check_json_city(answer))


def test_json_city_says_why() -> None:
    verdict = checks.check_json_city('{"city": "Tokyo", "country": "Mars"}')
    assert verdict == "Not yet: Tokyo is in Japan, not Mars."
    assert "```" in checks.check_json_city('```json\n{"city": "Paris", "country": "France"}\n```')
    assert "case-sensitive" in checks.check_json_city('{"City": "Paris", "Country": "France"}')
    assert "swapped" in checks.check_json_city('{"city": "France", "country": "Paris"}')
    assert "cut off" in checks.check_json_city('{"city": "Paris", "coun')
    expected = "Well done: Paris is in France, as parseable JSON."  # the notebook's output
    assert checks.check_json_city('{"city": "Paris", "country": "France"}') == expected


# -- 02 keep_last ---------------------------------------------------------------------


def _is_system(message: dict[str, Any]) -> bool:
    return message.get("role") == "system"


def right_keep_last(history: list, n: int) -> list:
    head = history[:1] if history and _is_system(history[0]) else []
    rest = history[len(head) :]
    return head + (rest[-n:] if n > 0 else [])


def keep_last_by_role(history: list, n: int) -> list:
    system = [m for m in history if m["role"] == "system"]
    others = [m for m in history if m["role"] != "system"]
    return system + (others[-n:] if n else [])


def keep_last_deque(history: list, n: int) -> list:
    start = 1 if history and history[0]["role"] == "system" else 0
    return history[:start] + list(deque(history[start:], maxlen=n))


def keep_last_loop(history: list, n: int) -> list:
    kept: list = []
    for message in reversed(history):
        if message is history[0] and _is_system(message):
            break
        if len(kept) == n:
            break
        kept.insert(0, message)
    return ([history[0]] if history and _is_system(history[0]) else []) + kept


def keep_last_copies(history: list, n: int) -> list:
    return copy.deepcopy(right_keep_last(history, n))


def keep_last_arithmetic(history: list, n: int) -> list:
    start = 1 if history and _is_system(history[0]) else 0
    rest = history[start:]
    return history[:start] + rest[max(len(rest) - n, 0) :]


def notebook_solution(history: list, n: int) -> list:  # the seed notebook's own answer
    return [history[0], *history[1:][-n:]]


def drops_system(history: list, n: int) -> list:
    return history[-n:]


def system_plus_tail(history: list, n: int) -> list:
    return history[:1] + history[-n:]


def mutates(history: list, n: int) -> list:
    del history[1:-n]
    return history


def always_first(history: list, n: int) -> list:
    return history[:1] + (history[1:][-n:] if n else [])


def same_list_when_short(history: list, n: int) -> list:
    if len(history) <= n + 1:
        return history
    return right_keep_last(history, n)


def pairs(history: list, n: int) -> list:
    head = history[:1] if history and _is_system(history[0]) else []
    return head + (history[len(head) :][-2 * n :] if n else [])


def first_n(history: list, n: int) -> list:
    head = history[:1] if history and _is_system(history[0]) else []
    return head + history[len(head) :][:n]


def off_by_one(history: list, n: int) -> list:
    head = history[:1] if history and _is_system(history[0]) else []
    return head + history[len(head) :][-n + 1 :] if n else head


def reversed_tail(history: list, n: int) -> list:
    head = history[:1] if history and _is_system(history[0]) else []
    return head + (history[len(head) :][-n:][::-1] if n else [])


def a_tuple(history: list, n: int) -> tuple:
    return tuple(right_keep_last(history, n))


def forgets_return(history: list, n: int) -> None:
    head = history[:1] if history and _is_system(history[0]) else []
    head + history[len(head) :][-n:]


def crashes(history: list, n: int) -> list:
    raise ValueError("oops")


def crashes_on_empty(history: list, n: int) -> list:
    return [history[0], *history[1:][-n:]] if _is_system(history[0]) else history[-n:]


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("notebook-solution", notebook_solution),
        ("drops-system", drops_system),
        ("system-plus-tail", system_plus_tail),
        ("mutates", mutates),
        ("always-first", always_first),
        ("same-list-when-short", same_list_when_short),
        ("pairs", pairs),
        ("first-n", first_n),
        ("off-by-one", off_by_one),
        ("reversed-tail", reversed_tail),
        ("a-tuple", a_tuple),
        ("forgets-return", forgets_return),
        ("crashes", crashes),
        ("crashes-on-empty", crashes_on_empty),
        ("a-string", lambda h, n: "all"),
        ("not-a-function", [SYSTEM]),
    ),
)
def test_keep_last_refuses(answer: Any) -> None:
    assert refused(checks.check_keep_last(answer))


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("head-and-rest", right_keep_last),
        ("by-role", keep_last_by_role),
        ("deque", keep_last_deque),
        ("loop", keep_last_loop),
        ("deep-copies", keep_last_copies),
        ("arithmetic", keep_last_arithmetic),
    ),
)
def test_keep_last_accepts(answer: Any) -> None:
    assert accepted(checks.check_keep_last(answer))


def test_keep_last_says_why() -> None:
    verdict = checks.check_keep_last(notebook_solution)
    assert "history[-0:]" in verdict, verdict
    assert "only when its role is 'system'" in checks.check_keep_last(
        lambda h, n: [h[0], *h[1:][-n:]] if n else h[:1]
    )


# -- 09 thread_to_items ---------------------------------------------------------------


def _thread_message(role: str, text: str, created_at: int = 0) -> Any:
    from openai.types.beta.threads import Message

    return Message.model_validate(
        {
            "id": f"msg_{text[:4]}",
            "object": "thread.message",
            "created_at": created_at,
            "thread_id": "thread_x",
            "role": role,
            "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
            "status": "completed",
            "attachments": [],
            "metadata": {},
        }
    )


THREAD = [_thread_message("user", "hi"), _thread_message("assistant", "hello")]


def right_items(messages: list) -> list:
    return [{"role": m.role, "content": m.content[0].text.value} for m in messages]


def typed_items(messages: list) -> list:
    return [{"type": "message", **item} for item in right_items(messages)]


def part_items(messages: list) -> list:
    return [
        {"role": m.role, "content": [{"type": "input_text", "text": m.content[0].text.value}]}
        for m in messages
    ]


def loop_items(messages: list) -> list:
    items = []
    for message in messages:
        text = "".join(block.text.value for block in message.content if block.type == "text")
        items.append({"role": message.role, "content": text})
    return items


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("reversed", lambda m: right_items(m)[::-1]),
        ("strings", lambda m: [x.content[0].text.value for x in m]),
        ("returns-none", lambda m: None),
        ("all-user", lambda m: [{"role": "user", "content": x.content[0].text.value} for x in m]),
        ("text-object", lambda m: [{"role": x.role, "content": x.content[0].text} for x in m]),
        ("content-blocks", lambda m: [{"role": x.role, "content": x.content} for x in m]),
        ("with-ids", lambda m: [{"id": x.id, **i} for x, i in zip(m, right_items(m), strict=True)]),
        ("users-only", lambda m: [i for i in right_items(m) if i["role"] == "user"]),
        ("crashes-on-empty", lambda m: right_items(m) if m[0] else []),
        ("a-generator", lambda m: (i for i in right_items(m))),
        ("a-tuple", lambda m: tuple(right_items(m))),
        ("drops-last", lambda m: right_items(m)[:-1]),
        (
            "stripped-text",
            lambda m: [{**i, "content": i["content"].split()[0]} for i in right_items(m)],
        ),
        (
            "assistant-as-system",
            lambda m: [
                {**i, "role": "system" if i["role"] == "assistant" else i["role"]}
                for i in right_items(m)
            ],
        ),
    ),
)
def test_thread_to_items_refuses(answer: Any) -> None:
    assert refused(checks.check_thread_to_items(answer, THREAD))


@pytest.mark.parametrize(
    "messages",
    wrong(
        ("skeleton", ...),
        ("none", None),
        ("empty", []),
        ("dicts", [{"role": "user", "content": "hi"}]),
        (
            "newest-first",
            [_thread_message("assistant", "hello", 2), _thread_message("user", "hi", 1)],
        ),
    ),
)
def test_thread_to_items_refuses_other_messages(messages: Any) -> None:
    assert refused(checks.check_thread_to_items(right_items, messages))


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("plain", right_items),
        ("typed", typed_items),
        ("input-text-parts", part_items),
        ("loop", loop_items),
    ),
)
def test_thread_to_items_accepts(answer: Any) -> None:
    assert checks.check_thread_to_items(answer, THREAD) == (
        "Well done: 2 items, ready for responses.create(input=...)."
    )
    assert accepted(checks.check_thread_to_items(answer, iter(THREAD)))  # a page iterates too


# -- 08 support bot -------------------------------------------------------------------


def _recommend(**yes: bool) -> Any:
    from nbext.widgets.decision_aid import recommend

    answers = dict.fromkeys(("stateful", "complex", "integration", "overhead"), False)
    return recommend(**{**answers, **yes})


def _aid(**yes: bool) -> Any:
    from nbext.widgets.decision_aid import DecisionAid

    aid = DecisionAid()
    for key, value in yes.items():
        aid.toggles[key].value = "yes" if value else "no"
    return aid


def _handmade(api: str, reasons: tuple[str, ...] = ()) -> Any:
    from nbext.widgets.decision_aid import Recommendation

    return Recommendation(api, reasons)


RIGHT_REASONS = _recommend(stateful=True, integration=True).reasons


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("all-no", _recommend()),
        ("stateful-only", _recommend(stateful=True)),
        ("integration-only", _recommend(integration=True)),
        ("stateful-and-complex", _recommend(stateful=True, complex=True)),
        ("complex-and-overhead", _recommend(complex=True, overhead=True)),
        ("three-yes", _recommend(stateful=True, integration=True, complex=True)),
        ("three-yes-overhead", _recommend(stateful=True, integration=True, overhead=True)),
        ("all-yes", _recommend(stateful=True, integration=True, complex=True, overhead=True)),
        ("the-api-name", "Assistants"),
        ("handmade-no-reasons", _handmade("Assistants-style (stateful server: threads and runs)")),
        ("handmade-short-api", _handmade("Assistants", RIGHT_REASONS)),
        ("handmade-chat-api", _handmade("Chat Completions", RIGHT_REASONS)),
        ("widget-untouched", _aid()),
        ("widget-wrong", _aid(stateful=True, complex=True)),
        ("dict-of-ellipses", dict.fromkeys(("stateful", "complex", "integration", "overhead"))),
        ("dict-missing-keys", {"stateful": True, "integration": True}),
        (
            "dict-wrong",
            {"stateful": True, "complex": True, "integration": False, "overhead": False},
        ),
    ),
)
def test_support_bot_refuses(answer: Any) -> None:
    assert refused(checks.check_support_bot(answer))


@pytest.mark.parametrize(
    "answer",
    wrong(
        (
            "the-notebook",
            _recommend(stateful=True, complex=False, integration=True, overhead=False),
        ),
        (
            "keyword-order",
            _recommend(overhead=False, integration=True, complex=False, stateful=True),
        ),
        ("the-widget", _aid(stateful=True, integration=True)),
        ("a-dict", {"stateful": True, "complex": False, "integration": True, "overhead": False}),
    ),
)
def test_support_bot_accepts(answer: Any) -> None:
    expected = "Well done: state and file search both point to a stateful server."
    assert checks.check_support_bot(answer) == expected


def test_support_bot_names_each_wrong_answer() -> None:
    verdict = checks.check_support_bot(_recommend(stateful=True, complex=True))
    assert "complex should be False" in verdict and "integration should be True" in verdict
    assert "stateful should" not in verdict  # that answer was right


# -- 03 first run ---------------------------------------------------------------------


def _run(
    status: str = "completed",
    instructions: str = "Answer with one word.",
    temperature: float | None = 0.0,
) -> Any:
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
            "temperature": temperature,
        }
    )


def _message(message_id: str, role: str, run_id: str | None, thread_id: str = "thread_1") -> Any:
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


def _step(message_id: str, run_id: str = "run_1") -> Any:
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


QUESTION, ANSWER = _message("msg_q", "user", None), _message("msg_a", "assistant", "run_1")


@pytest.mark.parametrize(
    "case",
    wrong(
        ("not-a-run", ("not a run", [_step("msg_a")], [QUESTION, ANSWER])),
        ("failed", (_run("failed"), [_step("msg_a")], [QUESTION, ANSWER])),
        ("not-waited", (_run("queued"), [_step("msg_a")], [QUESTION, ANSWER])),
        ("no-instructions", (_run(instructions=""), [_step("msg_a")], [QUESTION, ANSWER])),
        ("temperature-1", (_run(temperature=1.0), [_step("msg_a")], [QUESTION, ANSWER])),
        ("temperature-unset", (_run(temperature=None), [_step("msg_a")], [QUESTION, ANSWER])),
        ("no-steps", (_run(), [], [QUESTION, ANSWER])),
        ("another-runs-steps", (_run(), [_step("msg_a", run_id="run_2")], [QUESTION, ANSWER])),
        ("steps-as-dicts", (_run(), [_step("msg_a").model_dump()], [QUESTION, ANSWER])),
        ("answer-missing", (_run(), [_step("msg_a")], [QUESTION])),
        ("no-question", (_run(), [_step("msg_a")], [ANSWER])),
        ("no-messages", (_run(), [_step("msg_a")], [])),
        ("messages-as-dicts", (_run(), [_step("msg_a")], [QUESTION.model_dump()])),
        (
            "other-thread",
            (_run(), [_step("msg_a")], [QUESTION, _message("msg_a", "assistant", "run_1", "t2")]),
        ),
        ("step-points-at-question", (_run(), [_step("msg_q")], [QUESTION, ANSWER])),
        (
            "answer-of-another-run",
            (_run(), [_step("msg_a")], [QUESTION, _message("msg_a", "assistant", "run_2")]),
        ),
    ),
)
def test_first_run_refuses(case: tuple[Any, Any, Any]) -> None:
    assert refused(checks.check_first_run(*case))


@pytest.mark.parametrize(
    "case",
    wrong(
        ("plain", (_run(), [_step("msg_a")], [QUESTION, ANSWER])),
        ("temperature-0", (_run(temperature=0.0), [_step("msg_a")], [QUESTION, ANSWER])),
        ("newest-first", (_run(), [_step("msg_a")], [ANSWER, QUESTION])),
        ("tuples", (_run(), (_step("msg_a"),), (QUESTION, ANSWER))),
        ("iterators", (_run(), iter([_step("msg_a")]), iter([QUESTION, ANSWER]))),
        (
            "two-questions",
            (_run(), [_step("msg_a")], [QUESTION, _message("msg_q2", "user", None), ANSWER]),
        ),
    ),
)
def test_first_run_accepts(case: tuple[Any, Any, Any]) -> None:
    assert checks.check_first_run(*case) == (
        "Well done: the run wrote 1 assistant message on its thread, recorded by 1 step."
    )


# -- 04 keep_auto ---------------------------------------------------------------------


def right_keep_auto(costs: list, budget: int) -> list:
    from nbext.engine.truncation import auto

    chosen = auto(costs, budget)
    return chosen.kept if chosen is not None else []


def notebook_keep_auto(costs: list, budget: int) -> list:  # the notebook's solution
    if sum(costs) <= budget:
        return list(range(len(costs)))
    newest = len(costs) - 1
    if costs[newest] > budget:
        return []
    kept, used = [newest], costs[newest]
    head = 0
    while head < min(2, newest) and used + costs[head] <= budget:
        kept.append(head)
        used += costs[head]
        head += 1
    for index in range(newest - 1, head - 1, -1):
        if used + costs[index] > budget:
            break
        kept.append(index)
        used += costs[index]
    return sorted(kept)


def _keep_auto_variant(
    costs: list, budget: int, *, heads: int = 2, holes: bool = False, strict: bool = False
) -> list:
    def fits(extra: int) -> bool:
        return extra < budget if strict else extra <= budget

    if fits(sum(costs)):
        return list(range(len(costs)))
    newest = len(costs) - 1
    if not fits(costs[newest]):
        return []
    kept, used, head = [newest], costs[newest], 0
    while head < min(heads, newest) and fits(used + costs[head]):
        kept.append(head)
        used += costs[head]
        head += 1
    for index in range(newest - 1, head - 1, -1):
        if not fits(used + costs[index]):
            if holes:
                continue
            break
        kept.append(index)
        used += costs[index]
    return sorted(kept)


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


def mutates_costs(costs: list, budget: int) -> list:
    kept = right_keep_auto(list(costs), budget)
    costs.clear()
    return kept


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("keep-all", keep_all),
        ("newest-only", newest_only),
        ("unbounded-head", lambda c, b: _keep_auto_variant(c, b, heads=len(c))),
        ("no-head", lambda c, b: _keep_auto_variant(c, b, heads=0)),
        ("holes", lambda c, b: _keep_auto_variant(c, b, holes=True)),
        ("strict-fit", lambda c, b: _keep_auto_variant(c, b, strict=True)),
        ("none-for-nothing", lambda c, b: right_keep_auto(c, b) or None),
        ("unsorted", lambda c, b: sorted(right_keep_auto(c, b), reverse=True)),
        ("a-set", lambda c, b: set(right_keep_auto(c, b))),
        ("crashes-on-empty", lambda c, b: notebook_keep_auto(c, b) if c[-1] else []),
        ("mutates", mutates_costs),
        ("crashes", lambda c, b: [][0]),
        ("a-string", lambda c, b: "all"),
    ),
)
def test_keep_auto_refuses(answer: Any) -> None:
    assert refused(checks.check_keep_auto(answer))


def test_keep_auto_says_when_the_head_is_missing() -> None:
    for forgets_the_head in (newest_only, lambda c, b: _keep_auto_variant(c, b, heads=0)):
        assert "keep the first messages" in checks.check_keep_auto(forgets_the_head)
    assert "first messages" not in checks.check_keep_auto(keep_all)


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("reference", right_keep_auto),
        ("notebook", notebook_keep_auto),
        ("a-tuple", lambda c, b: tuple(notebook_keep_auto(c, b))),
        (
            "a-range-when-all-fit",
            lambda c, b: range(len(c)) if sum(c) <= b else notebook_keep_auto(c, b),
        ),
    ),
)
def test_keep_auto_accepts(answer: Any) -> None:
    assert accepted(checks.check_keep_auto(answer))


# -- 05 tool_outputs ------------------------------------------------------------------


def right_tool_outputs(calls: list, functions: dict) -> list:
    outputs = []
    for call in calls:
        value = functions[call.function.name](**json.loads(call.function.arguments))
        output = value if isinstance(value, str) else json.dumps(value)
        outputs.append({"tool_call_id": call.id, "output": output})
    return outputs


def indented_tool_outputs(calls: list, functions: dict) -> list:
    return [
        {"tool_call_id": o["tool_call_id"], "output": json.dumps(json.loads(o["output"]), indent=2)}
        for o in right_tool_outputs(calls, functions)
    ]


def comprehension_tool_outputs(calls: list, functions: dict) -> list:
    def as_text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))

    return [
        {
            "output": as_text(functions[c.function.name](**json.loads(c.function.arguments))),
            "tool_call_id": c.id,
        }
        for c in calls
    ]


def positional(calls: list, functions: dict) -> list:
    outputs = []
    for call in calls:
        value = functions[call.function.name](*json.loads(call.function.arguments).values())
        output = value if isinstance(value, str) else json.dumps(value)
        outputs.append({"tool_call_id": call.id, "output": output})
    return outputs


def double_encoded(calls: list, functions: dict) -> list:
    return [
        {
            "tool_call_id": c.id,
            "output": json.dumps(functions[c.function.name](**json.loads(c.function.arguments))),
        }
        for c in calls
    ]


def str_not_json(calls: list, functions: dict) -> list:
    return [
        {
            "tool_call_id": c.id,
            "output": str(functions[c.function.name](**json.loads(c.function.arguments))),
        }
        for c in calls
    ]


def _edit(change: Callable[[dict], dict]) -> Callable[[list, dict], list]:
    return lambda calls, functions: [change(o) for o in right_tool_outputs(calls, functions)]


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("str-not-json", str_not_json),
        ("not-strings", _edit(lambda o: {**o, "output": json.loads(o["output"])})),
        ("no-ids", _edit(lambda o: {**o, "tool_call_id": "x"})),
        ("reversed", lambda c, f: right_tool_outputs(c, f)[::-1]),
        (
            "ignores-arguments",
            lambda c, f: [
                {"tool_call_id": x.id, "output": json.dumps(f[x.function.name]("Paris"))} for x in c
            ],
        ),
        ("wrong-keys", _edit(lambda o: {"id": o["tool_call_id"], "output": o["output"]})),
        ("extra-key", _edit(lambda o: {**o, "name": "x"})),
        (
            "name-as-id",
            lambda c, f: [
                {**o, "tool_call_id": x.function.name}
                for x, o in zip(c, right_tool_outputs(c, f), strict=True)
            ],
        ),
        ("positional-arguments", positional),
        ("double-encoded", double_encoded),
        ("a-generator", lambda c, f: (o for o in right_tool_outputs(c, f))),
        ("none-when-empty", lambda c, f: right_tool_outputs(c, f) or None),
        ("one-output", lambda c, f: right_tool_outputs(c, f)[:1]),
        ("returns-none", lambda c, f: None),
        ("crashes", lambda c, f: 1 / 0),
        (
            "arguments-as-kwargs-string",
            lambda c, f: [
                {"tool_call_id": x.id, "output": f[x.function.name](x.function.arguments)}
                for x in c
            ],
        ),
    ),
)
def test_tool_outputs_refuses(answer: Any) -> None:
    assert refused(checks.check_tool_outputs(answer))


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("the-notebook", right_tool_outputs),
        ("indented-json", indented_tool_outputs),
        ("comprehension-compact", comprehension_tool_outputs),
    ),
)
def test_tool_outputs_accepts(answer: Any) -> None:
    expected = "Well done: one JSON output per call, each tied to its call id."
    assert checks.check_tool_outputs(answer) == expected


def test_tool_outputs_says_why() -> None:
    assert "twice" in checks.check_tool_outputs(double_encoded)
    assert "by name" in checks.check_tool_outputs(positional)


# -- 06 footnotes ---------------------------------------------------------------------


def right_footnotes(text: Any, names: dict) -> tuple:
    body, notes = text.value, []
    citations = [a for a in text.annotations if a.type == "file_citation"]
    for a in sorted(citations, key=lambda a: a.start_index, reverse=True):
        body = body[: a.start_index] + f"[{len(citations) - len(notes)}]" + body[a.end_index :]
        notes.insert(0, names[a.file_citation.file_id])
    return body, notes


def forward_footnotes(text: Any, names: dict) -> list:
    parts, notes, at = [], [], 0
    for a in sorted(text.annotations, key=lambda a: a.start_index):
        if a.type != "file_citation":
            continue
        notes.append(names[a.file_citation.file_id])
        parts += [text.value[at : a.start_index], f"[{len(notes)}]"]
        at = a.end_index
    return ["".join(parts) + text.value[at:], notes]


def replace_footnotes(text: Any, names: dict) -> tuple:
    body, notes = text.value, []
    for a in text.annotations:
        if a.type == "file_citation":
            notes.append(names[a.file_citation.file_id])
            body = body.replace(a.text, f"[{len(notes)}]", 1)
    return body, tuple(notes)


def every_annotation(text: Any, names: dict) -> tuple:
    body, notes = text.value, []
    for n, a in enumerate(text.annotations, 1):
        body = body.replace(a.text, f"[{n}]")
        notes.append(names[(a.file_path if a.type == "file_path" else a.file_citation).file_id])
    return body, notes


def off_by_one_slice(text: Any, names: dict) -> tuple:
    body, notes = text.value, []
    citations = [a for a in text.annotations if a.type == "file_citation"]
    for a in sorted(citations, key=lambda a: a.start_index, reverse=True):
        body = body[: a.start_index] + f"[{len(citations) - len(notes)}]" + body[a.end_index + 1 :]
        notes.insert(0, names[a.file_citation.file_id])
    return body, notes


def numbered_from_the_end(text: Any, names: dict) -> tuple:
    body, notes = text.value, []
    citations = [a for a in text.annotations if a.type == "file_citation"]
    for n, a in enumerate(sorted(citations, key=lambda a: a.start_index, reverse=True), 1):
        body = body[: a.start_index] + f"[{n}]" + body[a.end_index :]
        notes.append(names[a.file_citation.file_id])
    return body, notes


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("every-annotation", every_annotation),
        (
            "markers-left",
            lambda t, n: (t.value, [n[a.file_citation.file_id] for a in t.annotations[:2]]),
        ),
        (
            "counts-from-zero",
            lambda t, n: (
                right_footnotes(t, n)[0].replace("[1]", "[0]").replace("[2]", "[1]"),
                right_footnotes(t, n)[1],
            ),
        ),
        (
            "ids-not-names",
            lambda t, n: (
                right_footnotes(t, n)[0],
                [a.file_citation.file_id for a in t.annotations if a.type == "file_citation"],
            ),
        ),
        (
            "notes-when-none",
            lambda t, n: (right_footnotes(t, n)[0], right_footnotes(t, n)[1] or ["no sources"]),
        ),
        ("off-by-one-slice", off_by_one_slice),
        ("numbered-from-the-end", numbered_from_the_end),
        (
            "notes-as-dict",
            lambda t, n: (right_footnotes(t, n)[0], dict(enumerate(right_footnotes(t, n)[1], 1))),
        ),
        ("body-only", lambda t, n: right_footnotes(t, n)[0]),
        ("crashes", lambda t, n: (n[t.annotations[0].file_path.file_id], [])),
        ("returns-none", lambda t, n: None),
        ("one-item", lambda t, n: (t.value,)),
        (
            "markers-stripped-no-numbers",
            lambda t, n: (
                right_footnotes(t, n)[0].replace("[1]", "").replace("[2]", ""),
                right_footnotes(t, n)[1],
            ),
        ),
    ),
)
def test_footnotes_refuses(answer: Any) -> None:
    assert refused(checks.check_footnotes(answer))


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("backwards-splice", right_footnotes),
        ("forwards-join-as-list", forward_footnotes),
        ("replace-marker-text-tuple-notes", replace_footnotes),
    ),
)
def test_footnotes_accepts(answer: Any) -> None:
    expected = "Well done: each marker became a numbered footnote naming its file."
    assert checks.check_footnotes(answer) == expected


# -- 07 sum of squares ----------------------------------------------------------------

COMPUTED = (
    "def sum_of_squares(n):\n    return sum(i * i for i in range(1, n + 1))\n"
    "print(sum_of_squares(100))"
)


def _code_step(
    logs: str | None,
    status: str = "completed",
    kind: str = "code_interpreter",
    code: str = COMPUTED,
    run_id: str = "run_1",
    more: list[tuple[str, str | None]] = (),  # type: ignore[assignment]
) -> Any:
    """A tool_calls step; ``more`` adds earlier (code, logs) calls before this one."""
    from openai.types.beta.threads.runs import RunStep

    def call(number: int, code: str, logs: str | None) -> dict[str, Any]:
        outputs = [] if logs is None else [{"type": "logs", "logs": logs}]
        return {
            "id": f"call_{number}",
            "type": "code_interpreter",
            "code_interpreter": {"input": code, "outputs": outputs},
        }

    calls = [call(n, c, out) for n, (c, out) in enumerate(more)] + [call(9, code, logs)]
    if kind != "code_interpreter":
        calls = [{"id": "call_1", "type": "file_search", "file_search": {}}]
    error = {"code": "server_error", "message": "execution exceeded the 3 s time limit"}
    return RunStep.model_validate(
        {
            "id": "step_1",
            "object": "thread.run.step",
            "created_at": 1,
            "assistant_id": "asst_1",
            "thread_id": "thread_1",
            "run_id": run_id,
            "type": "tool_calls",
            "status": status,
            "step_details": {"type": "tool_calls", "tool_calls": calls},
            "last_error": error if status == "failed" else None,
            "cancelled_at": None,
            "completed_at": None,
            "expired_at": None,
            "failed_at": None,
            "usage": None,
        }
    )


def _image_step() -> Any:
    from openai.types.beta.threads.runs import RunStep

    step = _code_step(None).model_dump()
    step["step_details"]["tool_calls"][0]["code_interpreter"]["outputs"] = [
        {"type": "image", "image": {"file_id": "file-x"}}
    ]
    return RunStep.model_validate(step)


TRACEBACK = (
    "---------------------------------------------------------------------------\n"
    "NameError                                 Traceback (most recent call last)\n"
    "Cell In[1], line 1\n----> 1 print(sum_of_squares(100))\n\n"
    "NameError: name 'sum_of_squares' is not defined\n"
)
EVERY_SQUARE = "".join(f"{n * n}\n" for n in range(1, 101)) + "338350\n"


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("none", None),
        ("a-string", "steps"),
        ("empty", []),
        ("file-search-only", [_code_step(None, kind="file_search")]),
        ("failed-step", [_code_step("338350\n", status="failed")]),
        ("no-logs", [_code_step(None)]),
        ("an-image-not-logs", [_image_step()]),
        ("blank-logs", [_code_step("  \n")]),
        ("wrong-sum", [_code_step("328350\n")]),
        ("substring-3383501", [_code_step("3383501\n")]),
        ("substring-33835", [_code_step("33835\n")]),
        ("negative", [_code_step("-338350\n")]),
        ("fraction", [_code_step("338350.5\n")]),
        ("printed-literal", [_code_step("338350\n", code="print(338350)")]),
        ("printed-literal-underscore", [_code_step("338350\n", code="print(338_350)")]),
        ("printed-literal-string", [_code_step("338350\n", code="print('338350')")]),
        (
            "literal-in-sentence",
            [_code_step("The sum is 338350\n", code="print('The sum is 338350')")],
        ),
        ("every-square-then-sum", [_code_step(EVERY_SQUARE)]),
        ("raised", [_code_step(TRACEBACK)]),
        ("no-number", [_code_step("done\n")]),
        ("two-runs", [_code_step("338350\n"), _code_step("338350\n", run_id="run_2")]),
        ("last-call-wrong", [_code_step("1\n", more=[(COMPUTED, "338350\n")])]),
        ("steps-as-dicts", [_code_step("338350\n").model_dump()]),
    ),
)
def test_sum_of_squares_refuses(answer: Any) -> None:
    assert refused(checks.check_sum_of_squares(answer))


@pytest.mark.parametrize(
    "answer",
    wrong(
        ("plain", [_code_step("338350\n")]),
        ("a-sentence", [_code_step("The sum of the squares from 1 to 100 is 338350\n")]),
        ("call-shown", [_code_step("sum_of_squares(100) = 338350\n")]),
        ("thousands", [_code_step("338,350\n")]),
        ("a-float", [_code_step("338350.0\n")]),
        ("printed-twice", [_code_step("338350\n338350\n")]),
        ("a-formula", [_code_step("338350\n", code="print(100 * 101 * 201 // 6)")]),
        ("retried-after-an-error", [_code_step("338350\n", more=[(COMPUTED, TRACEBACK)])]),
        ("with-the-message-step-first", [_step("msg_a"), _code_step("338350\n")]),
        ("a-tuple", (_code_step("338350\n"),)),
        ("an-iterator", iter([_code_step("338350\n")])),
    ),
)
def test_sum_of_squares_accepts(answer: Any) -> None:
    expected = "Well done: the sandbox ran the code and printed 338350; the model did not guess it."
    assert checks.check_sum_of_squares(answer) == expected


def test_sum_of_squares_says_why() -> None:
    assert "guessed" in checks.check_sum_of_squares([_code_step("338350\n", code="print(338350)")])
    assert "NameError" in checks.check_sum_of_squares([_code_step(TRACEBACK)])
    assert "numbers" in checks.check_sum_of_squares([_code_step(EVERY_SQUARE)])
    assert "not the sum" in checks.check_sum_of_squares([_code_step("3383501\n")])
