"""The judging rules of benchmarks/tool_eval.py, on tables of answers they must reject and accept.

No model and no server: these are the eval's own scoring functions
(benchmarks/tool_eval_scoring.py) and its labelled data set.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from tool_eval_scoring import (  # noqa: E402
    Decision,
    arguments_valid,
    bare_json,
    code_failed,
    contains_all,
    contains_value,
    f1_interval,
    is_refusal,
    raw_tool_call,
    recovered,
    values_match,
    wilson,
)

DATA = BENCHMARKS / "data" / "tool_eval"

# -- raw tool-call JSON -------------------------------------------------------------

RAW_CALLS = [
    '{"name": "code_interpreter", "arguments": {"code": "2**10"}}',
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>',
    "<tool_call>",
    'Sure! ```json\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n```',
    '{"name":"set_timer","parameters":{"minutes":12}}',
    'I will call it: {"arguments": {"ticker": "QZLM"}}',
    '[{"name": "lookup_order", "arguments": "{\\"order_id\\": \\"A-77812\\"}"}]',
    '{"type": "function", "function": {"name": "get_weather"}}',
    '{"code": "print(sum(range(10)))"}',
    '```json\n{"code": "import math"}\n```',
    '{"query": "kettle warranty"}',
]

PROSE = [
    "The weather in Oslo is 3.4 °C with sleet.",
    "Here is the code I ran:\n```python\nprint(2**10)\n```\nIt printed 1024.",
    'The JSON key "name" holds the customer name.',
    'Your settings file is:\n```json\n{"retries": 7, "mode": "fast"}\n```',
    "The function takes two arguments: a city and a unit.",
    "",
    "Call me by my name: Priya.",
]


@pytest.mark.parametrize("text", RAW_CALLS)
def test_raw_tool_call_json_is_caught(text: str) -> None:
    assert raw_tool_call(text)


@pytest.mark.parametrize("text", PROSE)
def test_prose_is_not_a_raw_tool_call(text: str) -> None:
    assert not raw_tool_call(text)


BARE_JSON = [
    '{"status": "sent", "message_id": "msg-88213"}',
    '```json\n{"price": 143.27, "currency": "USD"}\n```',
    "[1, 1, 2, 3, 5]",
    '{"a": 1}\n{"b": 2}',
]

NOT_BARE_JSON = [
    "The email was sent (message id msg-88213).",
    'Your file:\n```json\n{"retries": 7}\n```\nIt holds two keys.',
    "42",
    '"just a string"',
    "",
    "{not json}",
]


@pytest.mark.parametrize("text", BARE_JSON)
def test_bare_json_answers_are_caught(text: str) -> None:
    assert bare_json(text)


@pytest.mark.parametrize("text", NOT_BARE_JSON)
def test_prose_and_scalars_are_not_bare_json(text: str) -> None:
    assert not bare_json(text)


# -- refusals ------------------------------------------------------------------------

REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I\u2019m sorry, I don\u2019t know.",
    "I cannot access real-time data.",
    "As an AI language model, I do not have access to the weather.",
    "I am unable to browse the internet.",
    "I don't have real-time information about stock prices.",
    "I apologize, but that is not possible.",
    "Unfortunately I'm not able to send emails.",
]

ANSWERS = [
    "The first ferry leaves Harrowmere at 06:40.",
    "You can't take dogs inside the cabin; they stay on the rear deck.",
    "The kettle cannot be used when empty: error E17 means a dry boil.",
    "Sorry to keep you waiting: BRVX trades at 58.91 USD.",
    "The sum is 76127.",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_refusals_are_caught(text: str) -> None:
    assert is_refusal(text)


@pytest.mark.parametrize("text", ANSWERS)
def test_answers_are_not_refusals(text: str) -> None:
    assert not is_refusal(text)


# -- argument comparison ---------------------------------------------------------------

MATCHING_ARGUMENTS: list[tuple[Any, Any]] = [
    ({"city": "Oslo"}, {"city": "oslo"}),
    ({"city": "Oslo"}, {"city": "  Oslo ", "unit": "celsius"}),  # optional, unlabelled
    ({"amount": 250}, {"amount": 250.0}),
    ({"amount": 250}, {"amount": "250"}),  # the schema, not the comparison, rejects the type
    ({"title": "Team retro"}, {"title": "team   retro"}),
    ({"room": {"$any": ["4.12", "room 4.12"]}}, {"room": "Room 4.12"}),
    ({"minutes": 12}, {"minutes": 12}),
    ({}, {"anything": "goes"}),
    ({"tags": ["a", "B"]}, {"tags": ["A", "b"]}),
]

DIFFERING_ARGUMENTS: list[tuple[Any, Any]] = [
    ({"city": "Oslo"}, {"city": "Olso"}),
    ({"city": "Oslo"}, {}),  # a labelled argument is missing
    ({"amount": 250}, {"amount": 25}),
    ({"amount": 250}, {"amount": True}),
    ({"minutes": 12}, {"minutes": "twelve"}),
    ({"room": {"$any": ["4.12", "room 4.12"]}}, {"room": "4.21"}),
    ({"tags": ["a", "b"]}, {"tags": ["a"]}),
    ({"city": "Oslo"}, "Oslo"),
]


@pytest.mark.parametrize(("expected", "actual"), MATCHING_ARGUMENTS)
def test_arguments_that_match(expected: Any, actual: Any) -> None:
    assert values_match(expected, actual)


@pytest.mark.parametrize(("expected", "actual"), DIFFERING_ARGUMENTS)
def test_arguments_that_differ(expected: Any, actual: Any) -> None:
    assert not values_match(expected, actual)


TIMER = {
    "type": "object",
    "properties": {"minutes": {"type": "integer", "minimum": 1}},
    "required": ["minutes"],
}


def test_arguments_valid_needs_json_an_object_the_schema_and_the_labels() -> None:
    assert arguments_valid(TIMER, '{"minutes": 12}', {"minutes": 12}).correct
    not_json = arguments_valid(TIMER, "minutes=12", {"minutes": 12})
    assert (not_json.valid, not_json.correct) == (False, False)
    assert not arguments_valid(TIMER, "[12]", {"minutes": 12}).valid
    wrong_type = arguments_valid(TIMER, '{"minutes": "12"}', {"minutes": 12})
    assert (wrong_type.valid, wrong_type.correct) == (False, False)
    missing = arguments_valid(TIMER, "{}", {"minutes": 12})
    assert not missing.valid and "minutes" in missing.problem
    wrong_value = arguments_valid(TIMER, '{"minutes": 13}', {"minutes": 12})
    assert (wrong_value.valid, wrong_value.correct) == (True, False)


# -- an answer contains a value ------------------------------------------------------------

CONTAINED = [
    ("It is 3.4 °C in Oslo.", "3.4"),
    ("That is 1,371.84 US dollars.", "1371.84"),
    ("A bicycle costs 4.5 pounds.", "4.50"),
    ("The determinant is \u221262.", "-62"),
    ("20! = 2,432,902,008,176,640,000", "2432902008176640000"),
    ("Your code is **D81AF448410A**.", "d81af448410a"),
    ("Ask Maren\nQuist.", "Maren Quist"),
    ("The sum is 990.", "990"),
]

NOT_CONTAINED = [
    ("It is 13.4 °C in Oslo.", "3.4"),
    ("It is 3.41 °C.", "3.4"),
    ("The mean is 18.", "18.4"),
    ("Extension 44711.", "4471"),
    ("The determinant is 62.", "-62"),
    ("Ask Maren.", "Maren Quist"),
    ("", "16"),
]


@pytest.mark.parametrize(("text", "value"), CONTAINED)
def test_contains_value(text: str, value: str) -> None:
    assert contains_value(text, value)


@pytest.mark.parametrize(("text", "value"), NOT_CONTAINED)
def test_does_not_contain_value(text: str, value: str) -> None:
    assert not contains_value(text, value)


def test_contains_all_takes_alternatives() -> None:
    required = [["09:30", "9:30"], "21:15"]
    assert contains_all("Open 9:30 to 21:15.", required)
    assert not contains_all("Open from 9:30.", required)
    assert contains_all("anything", [])


# -- code executions --------------------------------------------------------------------

FAILED_LOGS = [
    "Traceback (most recent call last):\n  File ...\nNameError: name 'fib' is not defined",
    "NameError: name 'fib' is not defined",
    "ModuleNotFoundError: No module named 'pandas'",
    "  Cell In[1], line 1\n    print(\n         ^\nSyntaxError: incomplete input",
    "ZeroDivisionError",
]

SUCCEEDED_LOGS = ["76127\n", "Error rate: 0.5", "[1, 1, 2, 3, 5]", "", "No errors found."]


@pytest.mark.parametrize("logs", FAILED_LOGS)
def test_failed_executions(logs: str) -> None:
    assert code_failed(logs)


@pytest.mark.parametrize("logs", SUCCEEDED_LOGS)
def test_successful_executions(logs: str) -> None:
    assert not code_failed(logs)


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        ([True, False], True),
        ([True, True, False], True),
        ([False, True, False], True),
        ([False], False),
        ([True], False),
        ([False, True], False),
        ([], False),
    ],
)
def test_recovered(failures: list[bool], expected: bool) -> None:
    assert recovered(failures) is expected


# -- statistics ----------------------------------------------------------------------------


def test_wilson_interval_known_values() -> None:
    low, high = wilson(8, 10)
    assert math.isclose(low, 0.4902, abs_tol=1e-4) and math.isclose(high, 0.9433, abs_tol=1e-4)
    low, high = wilson(0, 10)
    assert low == 0.0 and math.isclose(high, 0.2775, abs_tol=1e-4)
    low, high = wilson(10, 10)
    assert math.isclose(low, 0.7225, abs_tol=1e-4) and math.isclose(high, 1.0)
    assert wilson(0, 0) == (0.0, 1.0)


def test_decision_precision_recall_f1() -> None:
    pairs = [(True, True)] * 6 + [(True, False)] * 2 + [(False, True)] * 1 + [(False, False)] * 3
    decision = Decision.of(pairs)
    assert (decision.tp, decision.fn, decision.fp, decision.tn) == (6, 2, 1, 3)
    assert math.isclose(decision.precision, 6 / 7)
    assert math.isclose(decision.recall, 6 / 8)
    assert math.isclose(decision.f1, 2 * (6 / 7) * (6 / 8) / (6 / 7 + 6 / 8))
    never_called = Decision.of([(True, False), (False, False)])
    assert (never_called.precision, never_called.recall, never_called.f1) == (0.0, 0.0, 0.0)
    assert Decision.of([(True, True), (False, False)]).f1 == 1.0


def test_f1_interval_brackets_the_estimate() -> None:
    pairs = [(True, True)] * 20 + [(True, False)] * 4 + [(False, True)] * 3 + [(False, False)] * 13
    low, high = f1_interval(pairs)
    assert low < Decision.of(pairs).f1 < high
    assert f1_interval([(True, True)] * 5) == (1.0, 1.0)


# -- the labelled data set ------------------------------------------------------------------


def test_dataset_labels_are_consistent() -> None:
    """Every labelled argument passes its tool's schema; every document exists."""
    functions = json.loads((DATA / "functions.json").read_text())
    cases = [json.loads(line) for line in (DATA / "cases.jsonl").read_text().splitlines()]
    assert len(cases) >= 60 and len({c["id"] for c in cases}) == len(cases)
    for case in cases:
        if case["category"] == "function":
            assert set(case["tools"]) <= set(functions), case["id"]
            if case["expect_call"]:
                assert case["expect_call"] in case["tools"], case["id"]
                labels = {
                    k: v["$any"][0] if isinstance(v, dict) and "$any" in v else v
                    for k, v in case["arguments"].items()
                }
                properties = functions[case["expect_call"]]["parameters"]["properties"]
                for name, value in labels.items():
                    jsonschema.validate(value, properties[name])
        elif case["category"] == "file_search":
            assert (DATA / "docs" / case["document"]).is_file(), case["id"]
            assert case["answer_contains"], case["id"]
        else:
            assert case["answer_contains"] or case.get("file_contains"), case["id"]
