"""How the embedded model writes tool calls when ``tool_choice`` is ``auto``: collect, then score.

Two modes over one set of chat-level cases (first turns that should or should
not call a tool, and turns after a tool's result, failed code included):

- ``--raw FILE``: the model's raw output for each case (the GGUF's template on
  the request, ``Llama.create_completion``, no extraction, no grammar), at
  temperature 0 and at the API's default temperature 1.0 with a few seeds,
  written as JSON lines. The unit-test fixtures of ``tests/test_tool_calls.py``
  are taken from such a file.
- default: each case through ``EmbeddedBackend.create`` (what the server does),
  scored: calls made when one is expected (and with the expected tool), no call
  when none is, arguments that parse, and tool-call JSON left in the message
  text. Generation speed is printed too.

This is a quick chat-level check for working on the backend; the eval of the
whole tool loop through the server is ``benchmarks/tool_eval.py``.

Usage::

    python benchmarks/tool_shapes.py --raw /tmp/shapes.jsonl
    python benchmarks/tool_shapes.py --seeds 3
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbext.backends.embedded import EmbeddedBackend
from nbext.config import Settings
from nbext.tools.code_interpreter.executor import DEFINITION as CODE_INTERPRETER
from nbext.tools.registry import BUILTIN_DEFINITIONS

FILE_SEARCH = BUILTIN_DEFINITIONS["file_search"]


def function(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": list(properties),
            },
        },
    }


WEATHER = function(
    "get_weather",
    "Get the current weather in a city.",
    {"city": {"type": "string", "description": "The city name."}},
)
STOCK = function(
    "get_stock_price",
    "Get the latest stock price of a company by its ticker symbol.",
    {"symbol": {"type": "string", "description": "Ticker symbol, e.g. AAPL."}},
)
EMAIL = function(
    "send_email",
    "Send an email.",
    {
        "to": {"type": "string", "description": "Recipient address."},
        "subject": {"type": "string"},
        "body": {"type": "string"},
    },
)
CURRENCY = function(
    "convert_currency",
    "Convert an amount of money from one currency to another.",
    {
        "amount": {"type": "number"},
        "from_currency": {"type": "string", "description": "ISO code, e.g. EUR."},
        "to_currency": {"type": "string", "description": "ISO code, e.g. USD."},
    },
)
QUIZ = function(
    "display_quiz",
    "Display a quiz to the student and return the student's answers.",
    {
        "title": {"type": "string"},
        "questions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "question_text": {"type": "string"},
                    "choices": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["question_text", "choices"],
            },
        },
    },
)
CODE_NOTE = (
    "You are a helpful assistant. Use the code_interpreter tool to compute answers "
    "and print the result."
)
HANDBOOK_NOTE = "Answer questions about the company handbook. Be brief."


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def system(text: str) -> dict[str, Any]:
    return {"role": "system", "content": text}


def called(name: str, arguments: dict[str, Any], output: str) -> list[dict[str, Any]]:
    """An assistant turn calling ``name``, and the tool's answer."""
    return [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": output},
    ]


def code_output(printed: str, question: str) -> str:
    """What the code_interpreter executor gives back (see its ``told`` lines)."""
    return f"The code printed:\n{printed}\nQuestion: {question}\nAnswer in one sentence."


FIB_ERROR = (
    "---------------------------------------------------------------------------\n"
    "NameError                                 Traceback (most recent call last)\n"
    "Cell In[1], line 1\n----> 1 print(fib(20))\n\n"
    "NameError: name 'fib' is not defined"
)


@dataclass(frozen=True)
class Case:
    name: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    expected: str | None
    """The tool a good answer calls, or None for a text answer."""


def cases() -> list[Case]:
    q_pow = "Compute 2**10 with Python and tell me the result."
    q_fib = "Generate the first 20 fibbonaci numbers with code."
    q_dogs = "What does the handbook say about dogs?"
    return [
        Case("code_pow", [user(q_pow)], [CODE_INTERPRETER], "code_interpreter"),
        Case("code_fib", [user(q_fib)], [CODE_INTERPRETER], "code_interpreter"),
        Case(
            "code_factorial",
            [system(CODE_NOTE), user("What is 17 factorial?")],
            [CODE_INTERPRETER],
            "code_interpreter",
        ),
        Case(
            "code_squares",
            [user("What is the sum of the squares of the integers from 1 to 100? Use Python.")],
            [CODE_INTERPRETER],
            "code_interpreter",
        ),
        Case(
            "code_reverse",
            [system("You are a helpful assistant."), user("Reverse 'nbext rocks' in Python.")],
            [CODE_INTERPRETER],
            "code_interpreter",
        ),
        Case("code_greeting", [user("Hi! Who are you?")], [CODE_INTERPRETER], None),
        Case(
            "search_dogs",
            [system(HANDBOOK_NOTE), user(q_dogs)],
            [FILE_SEARCH],
            "file_search",
        ),
        Case(
            "search_vacation",
            [system(HANDBOOK_NOTE), user("How many vacation days do employees get?")],
            [FILE_SEARCH],
            "file_search",
        ),
        Case("weather", [user("What's the weather in Paris right now?")], [WEATHER], "get_weather"),
        Case("weather_joke", [user("Tell me a joke about cats.")], [WEATHER], None),
        Case(
            "quiz",
            [user("Make a quiz with 2 questions about Python basics and show it to me.")],
            [QUIZ],
            "display_quiz",
        ),
        Case(
            "stock_among_three",
            [user("What is Apple's stock price?")],
            [WEATHER, STOCK, EMAIL],
            "get_stock_price",
        ),
        Case(
            "email_among_three",
            [user("Email bob@example.com that the meeting moves to 3pm.")],
            [WEATHER, STOCK, EMAIL],
            "send_email",
        ),
        Case(
            "currency",
            [user("How much is 100 euros in US dollars?")],
            [CURRENCY],
            "convert_currency",
        ),
        Case(
            "capital_no_tool",
            [user("What is the capital of France?")],
            [WEATHER, STOCK],
            None,
        ),
        Case(
            "after_code_ok",
            [
                user(q_pow),
                *called("code_interpreter", {"code": "print(2**10)"}, code_output("1024", q_pow)),
            ],
            [CODE_INTERPRETER],
            None,
        ),
        Case(
            "after_code_error",
            [
                user(q_fib),
                *called(
                    "code_interpreter", {"code": "print(fib(20))"}, code_output(FIB_ERROR, q_fib)
                ),
            ],
            [CODE_INTERPRETER],
            "code_interpreter",
        ),
        Case(
            "after_search",
            [
                system(HANDBOOK_NOTE),
                user(q_dogs),
                *called(
                    "file_search",
                    {"query": "dogs"},
                    "Relevant passages from the attached files (cite one by copying its "
                    "marker):\n- 【0:0†handbook.md】 Dogs are welcome in the office on "
                    f"Wednesdays.\n\nQuestion: {q_dogs}\nAnswer in one sentence.",
                ),
            ],
            [FILE_SEARCH],
            None,
        ),
        Case(
            "after_weather",
            [
                user("What's the weather in Paris right now?"),
                *called("get_weather", {"city": "Paris"}, '{"temperature_c": 18, "sky": "cloudy"}'),
            ],
            [WEATHER],
            None,
        ),
    ]


SETTINGS = [(0.0, None)]


def settings(seeds: int) -> list[tuple[float, int | None]]:
    return [(0.0, None), *((1.0, seed) for seed in range(1, seeds + 1))]


def collect_raw(backend: EmbeddedBackend, path: Path, seeds: int) -> None:
    """The model's own words, before any extraction."""
    model = backend.load()
    with path.open("w") as out:
        for case in cases():
            prompt = backend._render(model, case.messages, case.tools, "auto")
            tokens = backend._tokenize(model, prompt)
            for temperature, seed in settings(seeds):
                model.forget()
                result = model.llm.create_completion(
                    prompt=tokens,
                    max_tokens=300,
                    temperature=temperature,
                    top_p=1.0,
                    seed=seed or 0,
                )
                text = result["choices"][0]["text"]  # type: ignore[index]
                record = {"case": case.name, "temperature": temperature, "seed": seed}
                out.write(json.dumps({**record, "output": text}) + "\n")
                print(json.dumps({**record, "output": text[:160]}), flush=True)


CALL_JSON = re.compile(r'["\']?(name|function)["\']?\s*:\s*["\']?(\w+)')


def looks_like_call(text: str, tool_names: set[str]) -> bool:
    """Tool-call JSON left in a message: a name/function key naming a listed tool."""
    return any(m.group(2) in tool_names for m in CALL_JSON.finditer(text)) or (
        "<tool_call>" in text
    )


def score(backend: EmbeddedBackend, seeds: int) -> None:
    rows: list[dict[str, Any]] = []
    for case in cases():
        names = {t["function"]["name"] for t in case.tools}
        for temperature, seed in settings(seeds):
            request: dict[str, Any] = {
                "model": backend.default_model,
                "messages": case.messages,
                "tools": case.tools,
                "temperature": temperature,
                "max_tokens": 300,
            }
            if seed is not None:
                request["seed"] = seed
            started = time.perf_counter()
            completion = backend.create(request)  # type: ignore[arg-type]
            elapsed = time.perf_counter() - started
            message = completion.choices[0].message
            calls = message.tool_calls or []
            arguments_ok = True
            for call in calls:
                try:
                    arguments_ok &= isinstance(json.loads(call.function.arguments), dict)
                except json.JSONDecodeError:
                    arguments_ok = False
            row = {
                "case": case.name,
                "temperature": temperature,
                "seed": seed,
                "expected": case.expected,
                "called": calls[0].function.name if calls else None,
                "arguments": calls[0].function.arguments if calls else None,
                "arguments_ok": arguments_ok,
                "leak": looks_like_call(message.content or "", names),
                "content": message.content,
                "seconds": round(elapsed, 2),
                "completion_tokens": completion.usage.completion_tokens if completion.usage else 0,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    summarise(rows)


def summarise(rows: list[dict[str, Any]]) -> None:
    for temperature in sorted({r["temperature"] for r in rows}):
        part = [r for r in rows if r["temperature"] == temperature]
        should = [r for r in part if r["expected"]]
        should_not = [r for r in part if not r["expected"]]
        tp = sum(1 for r in should if r["called"])
        fp = sum(1 for r in should_not if r["called"])
        fn = len(should) - tp
        right_tool = sum(1 for r in should if r["called"] == r["expected"])
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        print(
            f"temperature {temperature}: n={len(part)} call P={precision:.2f} R={recall:.2f} "
            f"F1={f1:.2f} right tool {right_tool}/{len(should)} "
            f"args ok {sum(r['arguments_ok'] for r in part if r['called'])}/{tp + fp} "
            f"leaks {sum(r['leak'] for r in part)} "
            f"seconds {sum(r['seconds'] for r in part):.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--raw", type=Path, help="write the raw outputs here (JSON lines)")
    parser.add_argument("--seeds", type=int, default=3, help="samples at temperature 1.0")
    args = parser.parse_args()
    backend = EmbeddedBackend(Settings.from_env().model_dir, progress=False)
    if args.raw:
        collect_raw(backend, args.raw, args.seeds)
    else:
        score(backend, args.seeds)


if __name__ == "__main__":
    sys.exit(main())
