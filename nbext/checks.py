"""Check cells of the tutorials' exercises: a friendly verdict, never an exception.

Each check takes what the learner built and returns one sentence that starts
with "Well done" or "Not yet", so a notebook cell can show it as is and a
test can feed it wrong answers and see them refused.

How the checks judge:

- They compare values and behaviour, never substrings or key sets: a
  learner's function is called on several inputs (edge cases included) and
  its results are compared with the right ones; an answer's values are read
  and compared (a city with its country, the number a program printed).
- An exercise cell starts as a skeleton: ``...``, ``None``, the string
  ``"TODO"`` or a function whose body is ``...`` (or ``pass``, or
  ``raise NotImplementedError``). Every check recognises it and answers
  "Not yet" with a hint to start from.
- A malformed answer (wrong type, a function that raises, a list holding
  something else than messages...) gets "Not yet" and what is wrong; if a
  check meets something it did not foresee, :func:`_never_raises` still turns
  it into a "Not yet" sentence.
"""

from __future__ import annotations

import ast
import copy
import functools
import inspect
import itertools
import json
import re
import textwrap
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

_Check = TypeVar("_Check", bound=Callable[..., str])


def _never_raises(what: str) -> Callable[[_Check], _Check]:
    """Turn anything a check did not foresee into a "Not yet" sentence about ``what``."""

    def wrap(check: _Check) -> _Check:
        @functools.wraps(check)
        def safe(*args: Any, **kwargs: Any) -> str:
            try:
                return check(*args, **kwargs)
            except Exception as error:  # a malformed answer: say so, don't raise
                return f"Not yet: I could not read {what} ({type(error).__name__}: {error})."

        return safe  # type: ignore[return-value]

    return wrap


# -- skeletons ----------------------------------------------------------------

_TODO_TEXT = re.compile(r"\s*(?:\.\.\.|…|todo\b.*)\s*", re.IGNORECASE | re.DOTALL)


def _is_skeleton(value: Any) -> bool:
    """The exercise cell still holds its starting point, not an answer."""
    if value is None or value is Ellipsis:
        return True
    if isinstance(value, str):
        return _TODO_TEXT.fullmatch(value) is not None
    if isinstance(value, (list, tuple)) and value:
        return all(_is_skeleton(item) for item in value)
    if callable(value):
        return _is_stub(value)
    return False


def _is_stub(function: Callable[..., Any]) -> bool:
    """A function whose body is only ``...``, ``pass``, a docstring, or raises NotImplementedError.

    Lambdas too, when their line of source parses on its own.
    """
    if getattr(function, "__code__", None) is None:
        return False
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):  # no source (or a lambda inside a larger line)
        return False
    name = getattr(function, "__name__", "")
    for node in ast.walk(tree):
        if isinstance(node, ast.Lambda) and name == "<lambda>":
            return _is_stub_value(node.body)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return all(_is_stub_statement(statement) for statement in node.body)
    return False


def _is_stub_value(node: ast.expr | None) -> bool:
    return node is None or (isinstance(node, ast.Constant) and node.value in (None, Ellipsis))


def _is_stub_statement(node: ast.stmt) -> bool:
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return node.value.value is Ellipsis or isinstance(node.value.value, str)
    if isinstance(node, ast.Return):
        return _is_stub_value(node.value)
    if isinstance(node, ast.Raise):
        raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return isinstance(raised, ast.Name) and raised.id == "NotImplementedError"
    return False


# -- small readers --------------------------------------------------------------


def _field(item: Any, name: str) -> Any:
    """``item[name]`` for a dict, ``item.name`` for an SDK object, else None."""
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None)


def _text_of(content: Any) -> str | None:
    """A chat message's text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content:
        texts = [_field(part, "text") for part in content]
        if all(isinstance(text, str) for text in texts):
            return "".join(texts)
    return None


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _call(function: Callable[..., Any], name: str, *args: Any) -> tuple[Any, str | None]:
    """Run the learner's function: (result, None), or (None, the "Not yet" it earned)."""
    try:
        return function(*args), None
    except Exception as error:  # the learner's code: report, don't raise
        return None, f"Not yet: {name} raised {type(error).__name__}: {error}."


# -- 00 ---------------------------------------------------------------------------

_QUIZ_RESTART = (
    "then start over, since the history keeps the system message it began with: "
    "run quiz.clear() and both cells again"
)

_ONE_WORD = re.compile(r"\b(?:one|1|a|single|lone)[\s-]*word\b|\bmonosyllab", re.IGNORECASE)


def _words(text: str) -> int:
    return len([w for w in text.split() if any(c.isalnum() for c in w)])


@_never_raises("`quiz`")
def check_quiz(conversation: Any) -> str:
    """00: a history that starts with a one-word system message and holds two answered questions.

    The answers must be short (at most two words: "New York" is one answer)
    — the proof that the system message worked.
    """
    # The exercise's %%chat cells start as `...`: they send nothing and leave `quiz` empty.
    if _is_skeleton(conversation) or (isinstance(conversation, (list, tuple)) and not conversation):
        return (
            "Not yet: `quiz` is still empty; in the %%chat --history quiz cells, write a "
            "system message asking for one-word answers after --system and a question in "
            "place of each `...`, then run them."
        )
    if not isinstance(conversation, (list, tuple)):
        return "Not yet: `quiz` should be the list that --history quiz keeps for you."
    for number, message in enumerate(conversation, 1):
        role = _field(message, "role")
        if not isinstance(role, str):
            return (
                f"Not yet: item {number} of `quiz` is {_short(message, 40)}, not a message "
                "like {'role': 'user', 'content': '...'}."
            )
    roles = [_field(m, "role") for m in conversation]
    if roles[0] != "system":
        return (
            "Not yet: the first message should be the system message (use --system); "
            "start over: run quiz.clear() and both cells again."
        )
    if roles.count("system") > 1:
        return (
            "Not yet: keep one system message, at the start of the conversation; "
            "start over: run quiz.clear() and both cells again."
        )
    system = _text_of(_field(conversation[0], "content")) or ""
    if not _ONE_WORD.search(system):
        return (
            f"Not yet: the system message {system!r:.60} does not ask for one word; "
            f"say it, e.g. --system 'Answer with one word only.', {_QUIZ_RESTART}."
        )
    turns = conversation[1:]
    questions = [m for m in turns if _field(m, "role") == "user"]
    if len(questions) < 2:
        return f"Not yet: ask two questions; the history holds {len(questions)}."
    for index, message in enumerate(turns):
        wanted = "user" if index % 2 == 0 else "assistant"
        if _field(message, "role") != wanted:
            what = "a question" if wanted == "user" else "the model's answer"
            return (
                f"Not yet: message {index + 2} should be {what} ({wanted}), not "
                f"{_field(message, 'role')}; let each %%chat --history quiz cell ask one "
                "question and keep its answer."
            )
    if roles[-1] != "assistant":
        return "Not yet: the last question has no answer; run its %%chat cell again."
    texts = [_text_of(_field(m, "content")) for m in turns]
    if any(text is None or not text.strip() for text in texts):
        return "Not yet: every message should have text; one of them is empty."
    asked = [" ".join(t.casefold().split()) for t in texts[0::2] if t is not None]
    if len(set(asked)) < len(asked):
        return (
            "Not yet: you asked the same question twice (a cell run again?); "
            "ask two different ones: run quiz.clear() and both cells again."
        )
    for answer in texts[1::2]:
        if answer is not None and _words(answer) > 2:
            return (
                f"Not yet: the model answered {answer.strip()!r:.60}, not one word; "
                f"make the system message firmer, e.g. 'Answer with one word only.', "
                f"{_QUIZ_RESTART}."
            )
    return f"Well done: {len(conversation)} messages, all of them resent on the next call."


# -- 01 ---------------------------------------------------------------------------

_COUNTRIES: dict[str, tuple[str, ...]] = {
    # canonical name -> how a model may write it (compared after _plain)
    "France": ("france", "fr", "french republic", "republique francaise"),
    "Japan": ("japan", "jp", "nippon", "nihon"),
    "United Kingdom": (
        "united kingdom",
        "uk",
        "u k",
        "great britain",
        "britain",
        "england",
        "united kingdom of great britain and northern ireland",
    ),
    "Germany": ("germany", "de", "deutschland", "federal republic of germany"),
    "Italy": ("italy", "italia"),
    "Spain": ("spain", "espana"),
    "Peru": ("peru",),
    "United States": (
        "united states",
        "united states of america",
        "usa",
        "us",
        "u s",
        "u s a",
        "america",
    ),
    "China": ("china", "prc", "people s republic of china"),
}

_CITIES: dict[str, str] = {
    # the exercise asks about Paris; a few other cities a learner may try instead
    "paris": "France",
    "lyon": "France",
    "marseille": "France",
    "tokyo": "Japan",
    "london": "United Kingdom",
    "berlin": "Germany",
    "rome": "Italy",
    "madrid": "Spain",
    "lima": "Peru",
    "new york": "United States",
    "new york city": "United States",
    "beijing": "China",
}
"""The (city, country) pairs the check accepts, city -> canonical country."""


def _plain(name: str) -> str:
    """Casefolded, accents and punctuation dropped, "the" dropped: 'The U.K.' -> 'u k'."""
    decomposed = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    words = re.sub(r"[^\w\s]|_", " ", text).split()
    if words[:1] == ["the"]:
        words = words[1:]
    return " ".join(words)


def _country(name: str) -> str | None:
    plain = _plain(name)
    return next((c for c, names in _COUNTRIES.items() if plain in names), None)


def _json_city_value(text: str) -> tuple[Any, str | None]:
    """The parsed answer, or the "Not yet" that says why it does not parse."""
    if not text.strip():
        return None, (
            "Not yet: the answer is empty; check reply.choices[0].finish_reason and "
            "ask again with response_format={'type': 'json_object'}."
        )
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        if "```" in text:
            return None, (
                "Not yet: the JSON is wrapped in a ``` code block; with "
                "response_format={'type': 'json_object'} the answer is the JSON alone."
            )
        stripped = text.strip()
        cut = error.pos >= len(text.rstrip()) or error.msg.startswith("Unterminated string")
        if stripped.startswith("{") and (cut or stripped.count("{") > stripped.count("}")):
            return None, (
                "Not yet: the JSON is cut off (finish_reason 'length'?); allow more "
                "max_tokens or ask for a shorter object."
            )
        try:
            literal = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            literal = None
        if isinstance(literal, dict):
            return None, (
                "Not yet: that is a Python dict (single quotes), not JSON; "
                "ask for response_format={'type': 'json_object'}."
            )
        if "{" in text:
            return None, (
                "Not yet: there is text around the JSON; with "
                "response_format={'type': 'json_object'} the answer is the JSON alone."
            )
        return None, ("Not yet: that is not JSON. Ask for response_format={'type': 'json_object'}.")


@_never_raises("the answer")
def check_json_city(text: Any) -> str:
    """01: the answer is a JSON object whose ``city`` is a real city and ``country`` its own.

    Accepted pairs are in :data:`_CITIES` (the exercise asks about Paris);
    country names may be written in the usual ways (:data:`_COUNTRIES`).
    Extra keys, key order, spacing and accents do not matter. An object the
    learner already parsed (a dict) is accepted too.
    """
    if _is_skeleton(text):
        return (
            "Not yet: replace the `...` with the model's answer: ask for the JSON with "
            "response_format={'type': 'json_object'} and keep its text, "
            "reply.choices[0].message.content."
        )
    if hasattr(text, "choices"):
        return "Not yet: pass the message text: reply.choices[0].message.content."
    if not isinstance(text, (str, dict)) and isinstance(getattr(text, "content", None), str):
        return "Not yet: pass the message's text, its .content."
    if isinstance(text, dict):
        value: Any = text
    elif isinstance(text, str):
        value, problem = _json_city_value(text)
        if problem:
            return problem
    else:
        return "Not yet: pass the message text, e.g. reply.choices[0].message.content."
    if not isinstance(value, dict):
        kind = {list: "a list", str: "a string"}.get(type(value), f"a {type(value).__name__}")
        return f"Not yet: that is JSON, but {kind}, not an object with 'city' and 'country'."
    missing = [key for key in ("city", "country") if key not in value]
    if missing:
        lower = {str(key).casefold(): key for key in value}
        if all(key in lower for key in missing):
            return (
                "Not yet: JSON keys are case-sensitive; name them 'city' and 'country' "
                f"exactly, not {', '.join(repr(lower[k]) for k in missing)}."
            )
        for key, inner in value.items():
            if isinstance(inner, dict) and {"city", "country"} <= set(inner):
                return (
                    f"Not yet: 'city' and 'country' are inside {key!r}; put them at the top "
                    "level of the object."
                )
        return (
            f"Not yet: the object has no {' and no '.join(repr(k) for k in missing)} key "
            f"(its keys: {', '.join(repr(k) for k in value) or 'none'}); name them in the prompt."
        )
    city, country = value["city"], value["country"]
    for key, name in (("city", city), ("country", country)):
        if not isinstance(name, str) or not name.strip():
            return f"Not yet: {key!r} should be a name (a non-empty string), not {_short(name)}."
    city, country = city.strip(), country.strip()
    wanted = _CITIES.get(_plain(city))
    if wanted is None:
        if _country(city) and _plain(country) in _CITIES:
            return f"Not yet: 'city' and 'country' are swapped: {country} is the city."
        known = next((c for c in _CITIES if _plain(city).startswith(c + " ")), None)
        if known:
            return (
                f"Not yet: 'city' should hold the city's name alone ({known.title()}), "
                f"not {city!r}."
            )
        return (
            f"Not yet: the exercise asks about Paris, and {city!r} is not a city this check "
            "knows; ask about Paris."
        )
    if _country(country) != wanted:
        return f"Not yet: {city} is in {wanted}, not {country}."
    return f"Well done: {city} is in {country}, as parseable JSON."


# -- 02 ---------------------------------------------------------------------------


def _history(system: bool, turns: int) -> list[dict[str, Any]]:
    head = [{"role": "system", "content": "Be brief."}] if system else []
    others = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"}
        for i in range(turns)
    ]
    return head + others


def _keep_last_reference(history: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    head = history[:1] if history and history[0].get("role") == "system" else []
    others = history[len(head) :]
    return head + (others[-n:] if n > 0 else [])


def _describe_history(history: list[dict[str, Any]]) -> str:
    if not history:
        return "an empty history"
    others = len(history) - (history[0]["role"] == "system")
    if history[0]["role"] == "system":
        return f"a system message and {others} others"
    return f"{others} messages without a system message"


def _contents(messages: Any) -> Any:
    if isinstance(messages, list) and all(isinstance(m, dict) for m in messages):
        return [m.get("content") for m in messages]
    return _short(messages)


@_never_raises("keep_last")
def check_keep_last(keep_last: Callable[[list[dict[str, Any]], int], list[dict[str, Any]]]) -> str:
    """02: ``keep_last(history, n)`` keeps a leading system message and the last ``n`` others.

    Called on ten histories: with and without a system message, n = 0, 1, 2,
    n equal to and larger than the number of messages, only a system
    message, an empty history. It must return a new list and leave the
    history it was given unchanged.
    """
    if _is_skeleton(keep_last):
        return (
            "Not yet: keep_last is still the skeleton; write its body: keep history[0] if "
            "its role is 'system', then the last n other messages."
        )
    if not callable(keep_last):
        return "Not yet: pass the function itself: check_keep_last(keep_last)."
    cases = [
        (_history(True, 6), 2),
        (_history(True, 6), 1),
        (_history(True, 6), 0),
        (_history(False, 5), 2),
        (_history(False, 5), 0),
        (_history(True, 3), 3),
        (_history(True, 3), 10),
        (_history(False, 2), 5),
        (_history(True, 0), 2),
        ([], 2),
    ]
    for history, n in cases:
        original = copy.deepcopy(history)
        expected = _keep_last_reference(original, n)
        kept, problem = _call(keep_last, "keep_last", history, n)
        if problem:
            return problem
        where = f"keep_last(<{_describe_history(original)}>, {n})"
        if history != original:
            return f"Not yet: {where} changed the history it was given; return a new list."
        if not isinstance(kept, list):
            return f"Not yet: {where} returned {_short(kept)}; return a list of messages."
        if kept is history:
            return f"Not yet: {where} returned the history itself; return a new list."
        if kept == expected:
            continue
        hint = ""
        if n == 0 and len(kept) > len(expected):
            hint = " (history[-0:] is the whole list: treat n == 0 on its own)"
        elif (
            original
            and original[0]["role"] != "system"
            and kept[:1] == original[:1] != expected[:1]
        ):
            hint = " (keep history[0] only when its role is 'system')"
        elif expected[:1] == original[:1] and kept[:1] != original[:1]:
            hint = " (the system message must stay first)"
        return f"Not yet: {where} returned {_contents(kept)}; expected {_contents(expected)}{hint}."
    return "Well done: the system message stays, the oldest turns go."


# -- 09 ---------------------------------------------------------------------------


def _thread_message(number: int, role: str, text: str) -> Any:
    from openai.types.beta.threads import Message

    return Message.model_validate(
        {
            "id": f"msg_check{number}",
            "object": "thread.message",
            "created_at": 1_700_000_000 + number,
            "thread_id": "thread_check",
            "role": role,
            "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
            "status": "completed",
            "attachments": [],
            "metadata": {},
        }
    )


def _message_text(message: Any) -> str:
    return "".join(
        block.text.value for block in message.content if getattr(block, "type", None) == "text"
    )


def _items_problem(items: Any, messages: list[Any]) -> str | None:
    """What is wrong with ``items`` as Responses input for ``messages``, or None."""
    from openai.types.responses import ResponseInputParam
    from pydantic import TypeAdapter, ValidationError

    if not isinstance(items, list) or len(items) != len(messages):
        return f"expected a list of one item per message ({len(messages)}), got {_short(items)}"
    for item in items:
        if not isinstance(item, dict) or not {"role", "content"} <= set(item):
            example = "{'role': 'user', 'content': 'text'}"
            return f"each item should look like {example}, not {_short(item)}"
        extra = set(item) - {"role", "content", "type"}
        if extra:
            return (
                f"an input message item has only 'role' and 'content' (and 'type': 'message'); "
                f"drop {', '.join(sorted(map(repr, extra)))}"
            )
    try:
        TypeAdapter(ResponseInputParam).validate_python(items)
    except ValidationError:
        return "each item should look like {'role': 'user', 'content': 'text'} (content: a string)"
    got = [(item["role"], _text_of(item["content"])) for item in items]
    expected = [(m.role, _message_text(m)) for m in messages]
    if got != expected:
        if sorted(got, key=repr) == sorted(expected, key=repr):
            return "keep the messages in the order they came (oldest first)"
        return "keep each message's role and its text, in order"
    return None


@_never_raises("thread_to_items or the messages")
def check_thread_to_items(thread_to_items: Callable[[list[Any]], Any], messages: list[Any]) -> str:
    """09: thread messages (oldest first) become Responses input message items.

    Called on the learner's thread, on an empty thread and on a three-message
    thread. Content may be a string or a list of ``input_text`` parts.
    """
    if _is_skeleton(thread_to_items):
        return (
            "Not yet: thread_to_items is still the skeleton; for each message take m.role "
            "and the text in m.content[0].text.value."
        )
    if not callable(thread_to_items):
        return "Not yet: pass the function itself: check_thread_to_items(thread_to_items, history)."
    try:
        messages = list(messages)
    except TypeError:
        messages = None  # type: ignore[assignment]
    if (
        not messages
        or _is_skeleton(messages)
        or not all(hasattr(m, "role") and hasattr(m, "content") for m in messages)
    ):
        return (
            "Not yet: pass the thread's messages as the second argument: "
            "client.beta.threads.messages.list(thread_id, order='asc').data."
        )
    times = [getattr(m, "created_at", 0) for m in messages]
    if len(times) > 1 and all(a > b for a, b in itertools.pairwise(times)):
        return "Not yet: these messages are newest first; list them with order='asc'."
    cases = [
        messages,
        [],
        [
            _thread_message(1, "user", "Is Wellington the capital?"),
            _thread_message(2, "assistant", "Yes:\nWellington, New Zealand."),
            _thread_message(3, "user", "¿Y Canberra?"),
        ],
    ]
    for case in cases:
        items, problem = _call(thread_to_items, "thread_to_items", list(case))
        if problem:
            return problem
        wrong = _items_problem(items, case)
        if wrong:
            where = f"for {len(case)} message{'s' if len(case) != 1 else ''}"
            return f"Not yet: {where}, {wrong}."
    return f"Well done: {len(messages)} items, ready for responses.create(input=...)."


# -- 08 ---------------------------------------------------------------------------

_SUPPORT_BOT_ANSWERS = {
    "stateful": (
        True,
        "remembering each customer's conversation for a week is state kept between requests",
    ),
    "complex": (
        False,
        "nothing in this bot needs several tool calls or steps per answer: one search, one reply",
    ),
    "integration": (True, "searching the product manuals is file search, a server-side tool"),
    "overhead": (False, "the task says nothing about keeping development overhead low"),
}
"""What notebook 08's exercise (and its solution) answers to each question, and why."""


def _answers_of(recommendation: Any) -> dict[str, bool] | None:
    """The four answers that produced ``recommendation``, or None if recommend() did not."""
    from nbext.widgets.decision_aid import QUESTIONS, recommend

    if isinstance(recommendation, Mapping):
        if set(recommendation) != set(QUESTIONS):
            return None
        if not all(isinstance(recommendation[key], bool) for key in QUESTIONS):
            return None
        return {key: recommendation[key] for key in QUESTIONS}
    reasons = getattr(recommendation, "reasons", None)
    if not isinstance(reasons, tuple):
        return None
    none = dict.fromkeys(QUESTIONS, False)
    answers = {key: recommend(**{**none, key: True}).reasons[-1] in reasons for key in QUESTIONS}
    return answers if recommend(**answers) == recommendation else None


@_never_raises("the recommendation")
def check_support_bot(recommendation: Any) -> str:
    """08: the four answers for a support bot that remembers customers and searches manuals.

    Each answer is compared with the lesson's: stateful yes, complex no,
    integration yes, overhead no. Accepts what ``recommend(...)`` returned,
    the ``DecisionAid`` widget itself (its toggles) or a dict of the four
    answers; a recommendation that recommend() did not produce is refused.
    """
    if _is_skeleton(recommendation):
        return (
            "Not yet: fill in the four answers: support_bot = recommend(stateful=..., "
            "complex=..., integration=..., overhead=...) with True or False."
        )
    if hasattr(recommendation, "toggles") and hasattr(recommendation, "recommendation"):
        recommendation = recommendation.recommendation  # the DecisionAid widget
    answers = _answers_of(recommendation)
    if answers is None:
        return "Not yet: pass what recommend(...) returned, as it is."
    wrong = [
        f"{key} should be {expected} ({why})"
        for key, (expected, why) in _SUPPORT_BOT_ANSWERS.items()
        if answers[key] != expected
    ]
    if wrong:
        return "Not yet: " + "; ".join(wrong) + "."
    return "Well done: state and file search both point to a stateful server."


# -- 03 ---------------------------------------------------------------------------


@_never_raises("the run, its steps or its messages")
def check_first_run(run: Any, steps: Any, messages: Any) -> str:
    """03: a finished run, its steps and its thread's messages, and how they point at each other.

    The run must be completed, have instructions and (the exercise asks for
    it) temperature 0; the steps must be this run's, with a message_creation
    step pointing at an assistant message of this run on the same thread as
    the learner's question. Pages (``.list(...)`` without ``.data``), lists
    and tuples are all accepted.
    """
    if any(_is_skeleton(part) for part in (run, steps, messages)):
        return (
            "Not yet: fill in the `...`: create the assistant (temperature=0), a thread with "
            "your question and a run, then pass the run, its steps and the thread's messages."
        )
    status = getattr(run, "status", None)
    if not isinstance(status, str):
        return "Not yet: pass the Run that create_and_poll returned as the first argument."
    if status in ("queued", "in_progress", "cancelling"):
        return f"Not yet: the run is {status}; wait for it with create_and_poll."
    if status != "completed":
        error = getattr(getattr(run, "last_error", None), "message", None)
        why = f" ({error})" if error else ""
        return f"Not yet: the run ended {status}{why}; run the assistant again."
    if not getattr(run, "instructions", None):
        return "Not yet: give your assistant instructions (they become the system message)."
    temperature = getattr(run, "temperature", None)
    if temperature != 0:
        used = "the default temperature" if temperature is None else f"temperature {temperature}"
        return (
            f"Not yet: the run used {used}; create the assistant with "
            "temperature=0 so its answer is the same every time."
        )
    try:
        steps, messages = list(steps or []), list(messages or [])
    except TypeError:
        return "Not yet: pass the run's steps and the thread's messages as lists (.data)."
    if not steps or any(getattr(s, "run_id", None) != run.id for s in steps):
        return "Not yet: pass this run's steps: client.beta.threads.runs.steps.list(run.id, ...)."
    written = [
        s.step_details.message_creation.message_id
        for s in steps
        if getattr(s, "type", None) == "message_creation"
    ]
    if not written:
        return "Not yet: a plain answer is written by a message_creation step; none was passed."
    if not messages or not all(hasattr(m, "role") and hasattr(m, "id") for m in messages):
        return "Not yet: pass the thread's messages: client.beta.threads.messages.list(...).data."
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


# -- 04 ---------------------------------------------------------------------------


@_never_raises("keep_auto")
def check_keep_auto(keep_auto: Callable[[list[int], int], Any]) -> str:
    """04: ``keep_auto(costs, budget)`` chooses the messages the ``auto`` strategy sends.

    Compared with the server's own ``auto`` on twelve cases, edge cases
    included (no messages, one message, an exact fit, nothing fits).
    """
    from nbext.engine.truncation import auto

    if _is_skeleton(keep_auto):
        return (
            "Not yet: keep_auto is still the skeleton; start with rule 1: if sum(costs) <= "
            "budget, return every index, list(range(len(costs)))."
        )
    if not callable(keep_auto):
        return "Not yet: pass the function itself: check_keep_auto(keep_auto)."
    cases = [
        ([10, 10, 10], 100),  # everything fits
        ([10, 10, 50], 40),  # not even the newest fits
        ([10, 10, 10, 10, 10, 10, 10], 45),  # head and tail, the middle goes
        ([30, 10, 10, 10, 10, 20], 45),  # the first message does not fit
        ([10, 10, 10, 40, 10, 10, 10], 60),  # the recent part stops at a big message
        ([5, 5], 6),  # only two messages
        ([10, 10, 10], 30),  # an exact fit is a fit
        ([7], 7),  # one message that fits exactly
        ([8], 7),  # one message that does not fit
        ([], 10),  # no messages at all
        ([10, 20, 30, 40], 40),  # only the newest fits, exactly
        ([5, 40, 5, 5, 5], 20),  # the second message is too big: the head stops at one
    ]
    for costs, budget in cases:
        expected = auto(costs, budget)
        wanted = expected.kept if expected is not None else []
        given = list(costs)
        got, problem = _call(keep_auto, f"keep_auto({costs}, {budget})", given, budget)
        if problem:
            return problem
        if given != costs:
            return f"Not yet: keep_auto({costs}, {budget}) changed the costs it was given."
        if not isinstance(got, (list, tuple, range)) or list(got) != wanted:
            hint = " (return [] to keep nothing)" if got is None and not wanted else ""
            if _drops_the_head(got, wanted, len(costs)):
                hint = (
                    " (rule 3: after the newest, keep the first messages, at most 2, "
                    "while they fit)"
                )
            return (
                f"Not yet: keep_auto({costs}, {budget}) returned {_short(got)}; "
                f"auto would send the messages {wanted}{hint}."
            )
    return "Well done: your keep_auto drops exactly what the server's auto strategy drops."


def _drops_the_head(got: Any, wanted: list[int], count: int) -> bool:
    """Not everything fits, auto keeps message 0 (the head), and ``got`` keeps some but not it."""
    if not isinstance(got, (list, tuple, range)) or not got or len(wanted) == count:
        return False
    return 0 in wanted and 0 not in got


# -- 05 ---------------------------------------------------------------------------


def _tool_functions() -> dict[str, Callable[..., Any]]:
    def get_weather(city: str) -> str:
        return json.dumps({"city": city, "temperature_c": 21})

    def local_time(city: str, hours: int = 24) -> dict[str, Any]:
        return {"city": city, "time": "12:00" if hours == 24 else "12:00 PM"}

    def count_letters(word: str) -> int:
        return len(word)

    return {"get_weather": get_weather, "local_time": local_time, "count_letters": count_letters}


_TOOL_CALLS = [
    # (function, arguments, the value its output must hold)
    ("local_time", '{"city": "Tokyo", "hours": 12}', {"city": "Tokyo", "time": "12:00 PM"}),
    ("get_weather", '{"city": "Lima"}', {"city": "Lima", "temperature_c": 21}),
    ("local_time", '{"hours": 12, "city": "Oslo"}', {"city": "Oslo", "time": "12:00 PM"}),
    ("count_letters", '{"word": "banana"}', 6),
    ("local_time", '{"city": "Quito"}', {"city": "Quito", "time": "12:00"}),
]


@_never_raises("tool_outputs")
def check_tool_outputs(
    tool_outputs: Callable[[list[Any], dict[str, Callable[..., Any]]], Any],
) -> str:
    """05: ``tool_outputs(tool_calls, functions)`` builds what ``submit_tool_outputs`` takes.

    Five calls (arguments in any order, a default argument, functions that
    return a JSON string, a dict and an int) and an empty list of calls. An
    output's JSON is compared by value, so its spacing does not matter.
    """
    from openai.types.beta.threads import RequiredActionFunctionToolCall

    if _is_skeleton(tool_outputs):
        return (
            "Not yet: tool_outputs is still the skeleton; for each call run "
            "functions[call.function.name] with the arguments json.loads(call.function.arguments)."
        )
    if not callable(tool_outputs):
        return "Not yet: pass the function itself: check_tool_outputs(tool_outputs)."
    calls = [
        RequiredActionFunctionToolCall.model_validate(
            {"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": args}}
        )
        for n, (name, args, _value) in enumerate(_TOOL_CALLS)
    ]
    outputs, problem = _call(tool_outputs, "tool_outputs", list(calls), _tool_functions())
    if problem:
        return problem
    if not isinstance(outputs, list) or len(outputs) != len(calls):
        return (
            f"Not yet: return a list of one output per call ({len(calls)}), not {_short(outputs)}."
        )
    if not all(isinstance(o, dict) and set(o) == {"tool_call_id", "output"} for o in outputs):
        return "Not yet: each output is a dict with exactly the keys 'tool_call_id' and 'output'."
    if [o["tool_call_id"] for o in outputs] != [c.id for c in calls]:
        return "Not yet: give each output the id of its call (call.id), in the calls' order."
    if not all(isinstance(o["output"], str) for o in outputs):
        return "Not yet: outputs must be strings; turn other values into JSON with json.dumps."
    for output, call, (name, _args, expected) in zip(outputs, calls, _TOOL_CALLS, strict=True):
        try:
            value = json.loads(output["output"])
        except json.JSONDecodeError:
            return (
                f"Not yet: the output for {name} is {output['output']!r:.50}, not JSON text; "
                "use json.dumps(value), not str(value)."
            )
        if isinstance(value, str) and value != expected:
            try:
                if json.loads(value) == expected:
                    return (
                        f"Not yet: {name} already returns JSON text; use it as it is "
                        "(json.dumps on a string encodes it twice)."
                    )
            except json.JSONDecodeError:
                pass
        if value != expected:
            return (
                f"Not yet: for {name}({call.function.arguments}) the output holds {value!r:.50}; "
                "run the function the call names with the call's arguments, by name: "
                "functions[name](**json.loads(call.function.arguments))."
            )
    empty, problem = _call(tool_outputs, "tool_outputs([], functions)", [], _tool_functions())
    if problem:
        return problem
    if empty != []:
        return f"Not yet: with no calls, tool_outputs([], functions) is [], not {_short(empty)}."
    return "Well done: one JSON output per call, each tied to its call id."


# -- 06 ---------------------------------------------------------------------------


def _cited_text(parts: Sequence[tuple[str, str, str, str]], tail: str = "") -> Any:
    """A message text from (text before, annotation text, type, file id) parts."""
    from openai.types.beta.threads import Text

    value, annotations = "", []
    for before, marker, kind, file_id in parts:
        value += before
        annotations.append(
            {
                "type": kind,
                "text": marker,
                "start_index": len(value),
                "end_index": len(value) + len(marker),
                kind: {"file_id": file_id},
            }
        )
        value += marker
    return Text.model_validate({"value": value + tail, "annotations": annotations})


def _footnote_cases() -> list[tuple[str, Any, tuple[str, list[str]]]]:
    link = "sandbox:/mnt/data/days.csv"
    return [
        (
            "two citations and a file link",
            _cited_text(
                [
                    ("Dogs come on Wednesdays", "【0:3†handbook.md】", "file_citation", "file-hb"),
                    (" and cats stay home", "【0:4†pets.md】", "file_citation", "file-pets"),
                    (". See [days.csv](", link, "file_path", "file-csv"),
                ],
                ").",
            ),
            (
                "Dogs come on Wednesdays[1] and cats stay home[2]. See [days.csv](" + link + ").",
                ["handbook.md", "pets.md"],
            ),
        ),
        ("no annotations", _cited_text([], "No sources here."), ("No sources here.", [])),
        (
            "a citation at the very start and one at the very end",
            _cited_text(
                [
                    ("", "【1:0†pets.md】", "file_citation", "file-pets"),
                    ("Parrots need a cage.", "【1:2†handbook.md】", "file_citation", "file-hb"),
                ]
            ),
            ("[1]Parrots need a cage.[2]", ["pets.md", "handbook.md"]),
        ),
        (
            "only a file link",
            _cited_text([("Download [days.csv](", link, "file_path", "file-csv")], ")."),
            (f"Download [days.csv]({link}).", []),
        ),
    ]


@_never_raises("with_footnotes")
def check_footnotes(with_footnotes: Callable[[Any, dict[str, str]], Any]) -> str:
    """06: ``with_footnotes(text, names)`` turns file_citation markers into numbered notes.

    Four texts: citations with a ``file_path`` link (which stays), no
    annotations, citations at the very start and end, only a link.
    """
    if _is_skeleton(with_footnotes):
        return (
            "Not yet: with_footnotes is still the skeleton; start from the annotations whose "
            "type is 'file_citation': a.start_index, a.end_index and a.file_citation.file_id."
        )
    if not callable(with_footnotes):
        return "Not yet: pass the function itself: check_footnotes(with_footnotes)."
    names = {"file-hb": "handbook.md", "file-pets": "pets.md", "file-csv": "days.csv"}
    for label, text, (body_wanted, notes_wanted) in _footnote_cases():
        got, problem = _call(with_footnotes, "with_footnotes", text, dict(names))
        if problem:
            return problem
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"Not yet: return a pair (body, notes), not {_short(got, 80)}."
        body, notes = got
        if not isinstance(body, str):
            return "Not yet: the first item should be the answer's text with [1], [2] in it."
        if "【" in body:
            return (
                "Not yet: a marker 【…】 is still in the answer; replace each citation's text "
                "(value[a.start_index:a.end_index])."
            )
        if "sandbox:/mnt/data/days.csv" in text.value and "sandbox:/mnt/data/days.csv" not in body:
            return "Not yet: only file_citation annotations become footnotes; leave the file link."
        if body != body_wanted:
            return f"Not yet: for {label}, expected {body_wanted!r}, got {body!r:.120}."
        if not isinstance(notes, (list, tuple)) or list(notes) != notes_wanted:
            if not notes_wanted:
                return (
                    f"Not yet: for {label} the notes should be empty, not {_short(notes)}; "
                    "an answer without citations comes back as it is."
                )
            return (
                f"Not yet: for {label} the notes should be the cited files' names in order, "
                f"{notes_wanted}, not {_short(notes)}."
            )
    return "Well done: each marker became a numbered footnote naming its file."


# -- 07 ---------------------------------------------------------------------------

SUM_OF_SQUARES = 338350
"""1 + 4 + 9 + ... + 100**2."""

_NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:\d{1,3}(?:[,_]\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])"
)
_QUESTION_NUMBERS = {1.0, 2.0, 100.0}
"""Numbers from the question itself ("1 to 100", "squares"), allowed next to the answer."""
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\w*(?:Error|Exception)\b", re.M)


def _numbers(text: str) -> list[float]:
    return [float(token.replace(",", "").replace("_", "")) for token in _NUMBER.findall(text)]


def _writes_the_answer(code: str) -> bool:
    """The code holds 338350 itself (a literal), rather than computing it."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return bool(re.search(r"(?<![\w.])338[,_]?350(?![\w])", code))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (int, float)) and node.value == SUM_OF_SQUARES:
                return True
            if isinstance(node.value, str) and SUM_OF_SQUARES in _numbers(node.value):
                return True
    return False


@_never_raises("the steps")
def check_sum_of_squares(steps: Any) -> str:
    """07: a run whose code_interpreter step computed and printed the sum of the squares of 1..100.

    The numbers printed by the run's last code_interpreter call are parsed:
    apart from the question's own (1, 2, 100) they must be exactly 338350
    (written 338350, 338,350 or 338350.0). Code that holds 338350 as a
    literal, code that raised, and a failed step are refused.
    """
    if _is_skeleton(steps):
        return (
            "Not yet: fill in the `...`: ask the coder on a new thread with ask(...), then "
            "keep that run's steps: steps_of(client, run)."
        )
    try:
        steps = list(steps or [])
    except TypeError:
        steps = []
    if not steps or not all(hasattr(s, "step_details") for s in steps):
        return (
            "Not yet: pass the run's steps: "
            "client.beta.threads.runs.steps.list(run.id, thread_id=...).data."
        )
    if len({getattr(s, "run_id", None) for s in steps}) > 1:
        return "Not yet: these steps come from more than one run; pass one run's steps."
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
    call = calls[-1].code_interpreter  # the call the model answered from
    logs = "".join(output.logs for output in call.outputs or [] if output.type == "logs")
    if not logs.strip():
        return "Not yet: the code printed nothing; ask for print(...) in your message."
    if _TRACEBACK.search(logs):
        last = [line for line in logs.strip().splitlines() if line.strip()][-1]
        return f"Not yet: the code raised an error ({last.strip():.80}); ask again."
    if _writes_the_answer(call.input or ""):
        return (
            "Not yet: the code prints 338350 written into it, not computed; the model guessed. "
            "Ask it to define sum_of_squares(n) and print(sum_of_squares(100))."
        )
    printed = [n for n in _numbers(logs) if n not in _QUESTION_NUMBERS]
    if not printed:
        return (
            f"Not yet: the code printed {logs.strip()!r:.60}; "
            "that is not the sum of the squares of 1 to 100."
        )
    if len(set(printed)) > 1:
        return (
            f"Not yet: the code printed {len(_numbers(logs))} numbers ({logs.strip()!r:.40}); "
            "print only the sum: name the function and the print call in your message."
        )
    if printed[0] != SUM_OF_SQUARES:
        return (
            f"Not yet: the code printed {logs.strip()!r:.60}; "
            "that is not the sum of the squares of 1 to 100."
        )
    return "Well done: the sandbox ran the code and printed 338350; the model did not guess it."


__all__ = [
    "check_first_run",
    "check_footnotes",
    "check_json_city",
    "check_keep_auto",
    "check_keep_last",
    "check_quiz",
    "check_sum_of_squares",
    "check_support_bot",
    "check_thread_to_items",
    "check_tool_outputs",
]
