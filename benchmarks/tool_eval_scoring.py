"""How ``tool_eval.py`` judges one answer: pure functions, no model, no server.

Kept apart from the eval so that its unit tests (``tests/test_tool_eval_scoring.py``)
import nothing heavy and so a reader can check each rule in one place:

- :func:`raw_tool_call`: a message that holds a tool call written as text
  (``<tool_call>``, ``{"name": ...}``, ``"arguments": ...``, a bare
  ``{"code": ...}``) instead of being prose;
- :func:`bare_json`: an answer that is JSON data (a tool's output echoed
  back), not prose;
- :func:`is_refusal`: "I'm sorry", "I can't", "As an AI" ...;
- :func:`values_match` / :func:`arguments_valid`: a call's arguments against
  the labelled values (numbers as numbers, strings case- and
  whitespace-insensitive, unlabelled optional arguments ignored) and against
  the tool's JSON schema;
- :func:`contains_value`: an answer mentions a value (numbers compared as
  numbers, so "13.4" does not contain 3.4 and "1,371.84" contains 1371.84);
- :func:`code_failed` / :func:`recovered`: a code execution that raised, and a
  run whose code succeeded after failing;
- :func:`wilson` and :class:`Decision` (precision, recall, F1 of the call
  decision, with a bootstrap interval for F1).
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import jsonschema

Expected = str | list[str]
"""One required value of an answer; a list means any one of its alternatives."""

# -- raw tool-call JSON and refusals ----------------------------------------------

_RAW_CALL_SHAPES = [
    re.compile(r"</?tool_call>|<\|tool_call\|>"),  # Qwen's (and others') call tags
    re.compile(r'"(?:arguments|parameters)"\s*:\s*[{"\[]'),  # a call's arguments key
    re.compile(r'\{\s*"name"\s*:\s*"'),  # {"name": "get_weather", ...}
    re.compile(r'"function"\s*:\s*\{'),  # OpenAI's wire shape
    re.compile(r'^\s*(?:```(?:json)?\s*)?\{\s*"(?:code|query)"\s*:\s*"'),  # bare built-in args
]


def raw_tool_call(text: str) -> bool:
    """True when ``text`` holds a tool call written out instead of made (or instead of prose)."""
    return any(shape.search(text) for shape in _RAW_CALL_SHAPES)


_FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```$", re.DOTALL)


def bare_json(text: str) -> bool:
    """True when the answer is JSON data rather than prose (a tool's output echoed back).

    The whole text (fenced or not) is a JSON object or array, or every
    non-empty line is a JSON object. A fenced block inside prose is prose.
    """
    body = text.strip()
    fenced = _FENCE.match(body)
    body = fenced.group(1).strip() if fenced else body
    if not body:
        return False
    try:
        return isinstance(json.loads(body), dict | list)
    except json.JSONDecodeError:
        pass
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    try:
        return all(isinstance(json.loads(line), dict) for line in lines)
    except json.JSONDecodeError:
        return False


_REFUSALS = re.compile(
    r"\bI(?:'m| am) (?:so |very |really )?sorry\b"
    r"|\bI apologi[sz]e\b"
    r"|\bI(?: can't| cannot| can not|'m unable| am unable|'m not able| am not able)\b"
    r"|\bI (?:don't|do not) have (?:access|the ability|real-time)\b"
    r"|\bas an AI\b|\bI(?:'m| am) (?:just )?an AI\b"
    r"|\bunable to (?:help|assist|provide|access)\b",
    re.IGNORECASE,
)


def is_refusal(text: str) -> bool:
    """True when the answer declines ("I'm sorry", "I can't", "As an AI" ...)."""
    return bool(_REFUSALS.search(text.replace("\u2019", "'")))


# -- comparing values -----------------------------------------------------------------

_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_NUMBER_IN_TEXT = re.compile(r"(?<![\w.])[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d])")


def normalise_text(text: str) -> str:
    """Casefolded, one space for any run of whitespace, typographic marks made plain."""
    text = text.replace("\u2212", "-").replace("\u2019", "'").replace("\u00a0", " ")
    return " ".join(text.split()).casefold()


def as_number(value: Any) -> Decimal | None:
    """``value`` as a number when it is one (bools are not), or a string that spells one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value)) if math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER.match(value.strip().replace("\u2212", "-")):
        try:
            return Decimal(value.strip().replace("\u2212", "-"))
        except InvalidOperation:
            return None
    return None


def values_match(expected: Any, actual: Any) -> bool:
    """Does ``actual`` (a call's argument) equal the labelled ``expected`` value?

    Numbers compare as numbers (``4`` == ``4.0`` == ``"4"``: whether the type
    is right is the schema's business, see :func:`arguments_valid`), strings
    case- and whitespace-insensitively; a dict compares only the keys it
    labels (unlabelled optional arguments are ignored); ``{"$any": [...]}``
    accepts any of several values.
    """
    if isinstance(expected, dict) and set(expected) == {"$any"}:
        return any(values_match(option, actual) for option in expected["$any"])
    if isinstance(expected, bool) or expected is None:
        return actual is expected
    expected_number = as_number(expected) if not isinstance(expected, str) else None
    if expected_number is not None:
        actual_number = as_number(actual)
        return actual_number is not None and actual_number == expected_number
    if isinstance(expected, str):
        if isinstance(actual, str):
            return normalise_text(expected) == normalise_text(actual)
        wanted, got = as_number(expected), as_number(actual)
        return wanted is not None and got is not None and wanted == got
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(values_match(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and values_match(value, actual[key]) for key, value in expected.items()
        )
    return bool(expected == actual)


@dataclass(frozen=True)
class ArgumentCheck:
    """A call's arguments: parsed, valid against the tool's schema, equal to the labels."""

    parsed: dict[str, Any] | None
    valid: bool
    correct: bool
    problem: str = ""


def arguments_valid(
    schema: dict[str, Any], arguments: str, expected: dict[str, Any]
) -> ArgumentCheck:
    """Check a call's ``arguments`` (JSON text, as on the wire) against ``schema`` and labels.

    ``correct`` needs ``valid``: a right value of the wrong type is not a call
    the function can take.
    """
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError as exc:
        return ArgumentCheck(None, False, False, f"not JSON: {exc.msg}")
    if not isinstance(parsed, dict):
        return ArgumentCheck(None, False, False, "not a JSON object")
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(parsed), key=str)
    if errors:
        return ArgumentCheck(parsed, False, False, errors[0].message)
    if not values_match(expected, parsed):
        return ArgumentCheck(parsed, True, False, "values differ from the labels")
    return ArgumentCheck(parsed, True, True)


def contains_value(text: str, value: str) -> bool:
    """Does the answer ``text`` mention ``value``?

    A value that is a number is looked for among the numbers of the text
    (thousands separators allowed), so "13.4" does not contain 3.4 and
    "4.5" contains "4.50"; anything else is a case- and whitespace-insensitive
    substring.
    """
    wanted = as_number(value)
    if wanted is None:
        return normalise_text(value) in normalise_text(text.replace("**", ""))
    plain = text.replace("\u2212", "-")
    for match in _NUMBER_IN_TEXT.finditer(plain):
        found = as_number(match.group(0).replace(",", ""))
        if found is not None and found == wanted:
            return True
    return False


def contains_all(text: str, required: Sequence[Expected]) -> bool:
    """Every required value is in ``text`` (a list entry: any one of its alternatives)."""
    return all(
        any(contains_value(text, option) for option in ([item] if isinstance(item, str) else item))
        for item in required
    )


# -- code executions ---------------------------------------------------------------------

_FAILED = re.compile(
    r"Traceback \(most recent call last\)|^\s*[A-Za-z_][\w.]*(?:Error|Exception)\b(?::|$)",
    re.MULTILINE,
)


def code_failed(logs: str) -> bool:
    """True when a code_interpreter execution's logs show that the code raised."""
    return bool(_FAILED.search(logs))


def recovered(failures: Sequence[bool]) -> bool:
    """A run's executions, in order (True: failed): did one succeed after a failure?"""
    first = next((i for i, failed in enumerate(failures) if failed), None)
    return first is not None and any(not failed for failed in failures[first + 1 :])


# -- statistics --------------------------------------------------------------------------

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (95 % by default); (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Decision:
    """Should-call vs did-call over a set of cases (positive: a call)."""

    tp: int
    fp: int
    fn: int
    tn: int

    @classmethod
    def of(cls, pairs: Sequence[tuple[bool, bool]]) -> Decision:
        """``pairs``: (should call, did call) per case."""
        return cls(
            tp=sum(1 for should, did in pairs if should and did),
            fp=sum(1 for should, did in pairs if not should and did),
            fn=sum(1 for should, did in pairs if should and not did),
            tn=sum(1 for should, did in pairs if not should and not did),
        )

    @property
    def precision(self) -> float:
        """0 when nothing was called (no call was right)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """0 when no case should call."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def f1_interval(
    pairs: Sequence[tuple[bool, bool]], rounds: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the decision F1 (cases resampled)."""
    if not pairs:
        return 0.0, 1.0
    rng = random.Random(seed)
    values = sorted(
        Decision.of([pairs[rng.randrange(len(pairs))] for _ in pairs]).f1 for _ in range(rounds)
    )
    return values[int(0.025 * (rounds - 1))], values[int(0.975 * (rounds - 1))]
