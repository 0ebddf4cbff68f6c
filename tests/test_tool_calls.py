"""Reading tool calls out of streamed model text (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbext.backends.tool_calls import (
    READ_ONLY_TOOLS,
    ToolCallExtractor,
    arguments_as_objects,
    single_string_parameters,
)
from nbext.backends.tool_grammar import (
    AUTO_TOOLS_NOTE,
    QWEN_DEFAULT_SYSTEM,
    call_grammar,
    call_prefix,
    tools_named,
    with_tools_note,
)

NAMES = ["get_weather"]


def feed_in_pieces(text: str, size: int) -> tuple[str, ToolCallExtractor]:
    extractor = ToolCallExtractor(NAMES)
    shown = "".join(extractor.feed(text[i : i + size]) for i in range(0, len(text), size))
    return shown + extractor.finish(), extractor


def test_qwen_tool_call_is_extracted_whatever_the_chunking() -> None:
    output = (
        "Let me check.\n<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    )
    for size in (1, 3, 7, len(output)):
        shown, extractor = feed_in_pieces(output, size)
        assert shown == "Let me check.\n"
        assert [(c.name, json.loads(c.arguments)) for c in extractor.calls] == [
            ("get_weather", {"city": "Paris"})
        ]


def test_fenced_json_call_is_extracted() -> None:
    output = '```json\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n```'
    shown, extractor = feed_in_pieces(output, 2)
    assert shown == ""
    assert extractor.calls[0].name == "get_weather"


def test_ordinary_code_block_is_shown_unchanged() -> None:
    output = 'Here:\n```json\n{"a": 1}\n```\nDone. x < y'
    shown, extractor = feed_in_pieces(output, 4)
    assert shown == output
    assert extractor.calls == []


def test_a_tag_around_no_call_to_a_listed_tool_is_never_shown() -> None:
    output = 'Sure.<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>'
    shown, extractor = feed_in_pieces(output, 5)
    assert shown == "Sure."
    assert extractor.calls == []


def test_unclosed_call_at_end_of_output_is_still_a_call() -> None:
    shown, extractor = feed_in_pieces(
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}', 6
    )
    assert shown == ""
    assert json.loads(extractor.calls[0].arguments) == {"city": "Oslo"}


def test_several_calls_get_distinct_ids() -> None:
    output = "".join(
        f'<tool_call>{{"name": "get_weather", "arguments": {{"city": "{c}"}}}}</tool_call>\n'
        for c in ("Paris", "Rome")
    )
    _, extractor = feed_in_pieces(output, 9)
    assert [json.loads(c.arguments)["city"] for c in extractor.calls] == ["Paris", "Rome"]
    assert len({c.id for c in extractor.calls}) == 2


@pytest.mark.parametrize(
    "call",
    [
        '{"name": "cat joke", "arguments": {}}',
        '[{"name": "tell_joke", "parameters": {"topic": "cats"}}]',
        "```json\n{'tool': 'search the web', 'args': {}}\n```",
    ],
)
def test_a_call_to_a_tool_not_offered_is_a_call_start_never_shown(call: str) -> None:
    for size in (1, 4, len(call)):
        extractor = ToolCallExtractor(NAMES)
        output = f"Sure! {call} Done."
        shown = "".join(extractor.feed(output[i : i + size]) for i in range(0, len(output), size))
        assert extractor.started is not None and extractor.started.unlisted
        assert extractor.started.offset == len("Sure! ")
        assert shown + extractor.finish() == "Sure!  Done."
        assert extractor.calls == []


@pytest.mark.parametrize(
    ("output", "shown", "calls"),
    [
        ('Sure. <tool_response>\n{"temp": 21}\n</tool_response> It is 21.', "Sure.  It is 21.", []),
        ('<tool_response>\n  "name": "3D Printer",\n  "arguments": {', "", []),
        ("<tool_response>", "", []),
        ("<tool_response>\nParis is sunny.\n</tool_response>", "", []),  # no bare argument
        (
            '<tool_response>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n'
            "</tool_response>",
            "",
            [("get_weather", {"city": "Oslo"})],
        ),
    ],
)
def test_a_tool_response_tag_is_a_call_start_never_shown(
    output: str, shown: str, calls: list
) -> None:
    """Both embedded models open answers with the template's result tag (tool eval): the
    1.5B around its calls, and both around results they imagine, which stay unseen."""
    for size in (1, 4, len(output)):
        extractor = ToolCallExtractor(NAMES, {"get_weather": "city"})
        seen = "".join(extractor.feed(output[i : i + size]) for i in range(0, len(output), size))
        assert extractor.started is not None and not extractor.started.unlisted
        assert extractor.started.offset == output.index("<tool_response>")
        assert extractor.started.result_tag  # a call to a tool that acts is rewound
        assert seen + extractor.finish() == shown
        assert [(c.name, json.loads(c.arguments)) for c in extractor.calls] == calls


def test_the_15b_file_search_call_in_a_result_tag_is_a_call() -> None:
    """The 1.5B's answer, verbatim, to fs-workshop-hours at temperature 0 with no grammar:
    all 16 file_search cases of the tool eval opened so, and none searched while the
    tag was read as an imagined result."""
    query = "What are the opening hours of the Orrery Lane workshop?"
    output = (
        '<tool_response>\n{"name": "file_search", "arguments": {"query": "' + query + '"}}\n'
        "</tool_response>"
    )
    extractor = ToolCallExtractor(["file_search"], {"file_search": "query"})
    assert extractor.feed(output) + extractor.finish() == ""
    assert extractor.started is not None and not extractor.started.unlisted
    assert extractor.started.result_tag and "file_search" in READ_ONLY_TOOLS  # made
    assert [(c.name, json.loads(c.arguments)) for c in extractor.calls] == [
        ("file_search", {"query": query})
    ]


@pytest.mark.parametrize(
    ("output", "shown"),
    [
        ('<tools>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tools>', ""),
        (
            'Checking.\n<tools>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}',
            "Checking.\n",
        ),
    ],
)
def test_a_call_in_the_tool_list_tag_is_a_call(output: str, shown: str) -> None:
    """The 1.5B model wrote ``<tools>`` (the template's wrapping of the tool list) before
    a call (tool eval, ci-hex-product): the tag was shown as the message."""
    for size in (1, 4, len(output)):
        extractor = ToolCallExtractor(NAMES)
        seen = "".join(extractor.feed(output[i : i + size]) for i in range(0, len(output), size))
        assert extractor.started is not None and not extractor.started.unlisted
        assert extractor.started.offset == output.index("<tools>")
        assert not extractor.started.result_tag
        assert seen + extractor.finish() == shown
        assert [(c.name, json.loads(c.arguments)) for c in extractor.calls] == [
            ("get_weather", {"city": "Oslo"})
        ]


def test_a_raw_newline_in_a_code_string_is_read() -> None:
    """JSON wants ``\\n`` in a string; the 1.5B model writes raw newlines there (its free
    output in 2 of 6 samples), and llama.cpp's JSON grammar admits them too."""
    output = '{"name": "code_interpreter", "arguments": {"code": "x = 2\nprint(x ** 10)"}}'
    extractor = ToolCallExtractor(["code_interpreter"], {"code_interpreter": "code"})
    assert extractor.feed(output) + extractor.finish() == ""
    assert json.loads(extractor.calls[0].arguments) == {"code": "x = 2\nprint(x ** 10)"}


def test_json_with_a_name_but_no_arguments_is_text() -> None:
    output = 'Here: {"name": "Alice", "age": 30} and [{"name": "Bob"}].'
    shown, extractor = feed_in_pieces(output, 3)
    assert shown == output
    assert extractor.started is None


CODE_FIX = (
    "The error is that `fib` is not defined. Here is the fix:\n\n"
    "```python\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\n"
    "print([fib(i) for i in range(20)])\n```\n\nThis prints the numbers."
)


@pytest.mark.parametrize("size", [1, 5, len(CODE_FIX)])
def test_a_python_block_is_a_call_to_the_code_tool_with_the_words_before_it_shown(
    size: int,
) -> None:
    extractor = ToolCallExtractor(
        ["code_interpreter"], {"code_interpreter": "code"}, code_tool="code_interpreter"
    )
    shown = "".join(extractor.feed(CODE_FIX[i : i + size]) for i in range(0, len(CODE_FIX), size))
    started = extractor.started
    assert started is not None and started.code and started.name == "code_interpreter"
    assert shown + extractor.finish() == CODE_FIX[: started.offset]
    assert CODE_FIX[: started.offset].endswith("Here is the fix:\n\n")
    (call,) = extractor.calls
    assert call.name == "code_interpreter"
    code = json.loads(call.arguments)["code"]
    assert code.startswith("def fib(n):") and code.endswith("print([fib(i) for i in range(20)])")


def test_a_python_block_is_text_when_the_code_tool_may_not_be_called() -> None:
    extractor = ToolCallExtractor(["code_interpreter"], {"code_interpreter": "code"})
    assert extractor.feed(CODE_FIX) + extractor.finish() == CODE_FIX
    assert extractor.calls == [] and extractor.started is None


def test_arguments_are_parsed_for_the_template_without_touching_the_input() -> None:
    message = {
        "role": "assistant",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}
        ],
    }
    converted = arguments_as_objects([message])
    assert converted[0]["tool_calls"][0]["function"]["arguments"] == {"x": 1}
    assert message["tool_calls"][0]["function"]["arguments"] == '{"x": 1}'


# -- the grammar's helpers -------------------------------------------------------------------

CODE_TOOL = {
    "type": "function",
    "function": {
        "name": "code_interpreter",
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string"}},
            "required": ["code"],
        },
    },
}
FILE_SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "file_search",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}
QUIZ_TOOL = {
    "type": "function",
    "function": {
        "name": "display_quiz",
        "parameters": {
            "type": "object",
            "properties": {"title": {"type": "string"}, "questions": {"type": "array"}},
        },
    },
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_call_grammar_admits_only_the_listed_tools_and_is_built_once() -> None:
    grammar = call_grammar([CODE_TOOL, WEATHER_TOOL])
    assert call_grammar([dict(CODE_TOOL), dict(WEATHER_TOOL)]) is grammar
    assert '\\"code_interpreter\\"' in grammar._grammar
    assert '\\"get_weather\\"' in grammar._grammar
    only_weather = call_grammar(tools_named([CODE_TOOL, WEATHER_TOOL], "get_weather"))
    assert "code_interpreter" not in only_weather._grammar
    assert tools_named([CODE_TOOL, WEATHER_TOOL], None) == [CODE_TOOL, WEATHER_TOOL]


@pytest.mark.parametrize("tools", [[CODE_TOOL], [WEATHER_TOOL], [CODE_TOOL, WEATHER_TOOL]])
def test_call_grammar_writes_the_name_before_the_arguments(tools: list) -> None:
    # Qwen's template shows {"name": ..., "arguments": ...}; with the keys the other
    # way round the 0.5B closed a forced call inside its code string (a SyntaxError).
    objects = [line for line in call_grammar(tools)._grammar.splitlines() if "-kv" in line]
    calls = [line for line in objects if "name-kv" in line and "arguments-kv" in line]
    assert len(calls) == len(tools)
    assert all(line.index("name-kv") < line.index("arguments-kv") for line in calls)


def test_the_grammar_takes_over_after_the_words_before_the_call() -> None:
    assert call_prefix("") == "<tool_call>\n"
    assert call_prefix("Let me run it.") == "Let me run it.\n<tool_call>\n"
    assert call_prefix("Let me run it.\n") == "Let me run it.\n<tool_call>\n"


def test_the_tools_note_follows_the_instructions_or_qwens_default() -> None:
    ask = {"role": "user", "content": "Hi"}
    with_system = with_tools_note([{"role": "system", "content": "Be brief."}, ask])
    assert with_system == [{"role": "system", "content": f"Be brief.\n\n{AUTO_TOOLS_NOTE}"}, ask]
    without = with_tools_note([ask])
    assert without[0]["content"] == f"{QWEN_DEFAULT_SYSTEM}\n\n{AUTO_TOOLS_NOTE}"
    assert without[1:] == [ask]


def test_a_one_string_tool_takes_its_argument_bare() -> None:
    assert single_string_parameters([CODE_TOOL, WEATHER_TOOL]) == {
        "code_interpreter": "code",
        "get_weather": "city",
    }
    extractor = ToolCallExtractor(["code_interpreter"], {"code_interpreter": "code"})
    shown = extractor.feed("<tool_call>\nprint(2**10)\n</tool_call>") + extractor.finish()
    assert shown == ""
    assert json.loads(extractor.calls[0].arguments) == {"code": "print(2**10)"}


# -- real outputs of the embedded model ------------------------------------------------------

SHAPES = json.loads((Path(__file__).parent / "data" / "tool_call_shapes.json").read_text())
"""Raw outputs of Qwen2.5-Coder-0.5B-Instruct on tool prompts under ``tool_choice: "auto"``
(``benchmarks/tool_shapes.py --raw``, temperature 0 and 1.0), with what the user must see
and the calls they hold. ``call_starts`` is where the backend's grammar takes over."""


@pytest.mark.parametrize("shape", SHAPES, ids=[s["source"] for s in SHAPES])
@pytest.mark.parametrize("piece", [1, 7, 10_000])
def test_real_output_shapes(shape: dict, piece: int) -> None:
    tools = [CODE_TOOL, FILE_SEARCH_TOOL, WEATHER_TOOL, QUIZ_TOOL]
    offered = [t for t in tools if t["function"]["name"] in shape["tools"]]
    extractor = ToolCallExtractor(shape["tools"], single_string_parameters(offered))
    output = shape["output"]
    shown = "".join(extractor.feed(output[i : i + piece]) for i in range(0, len(output), piece))
    started = extractor.started
    shown += extractor.finish()
    assert shown == shape["shown"]
    calls = [{"name": c.name, "arguments": json.loads(c.arguments)} for c in extractor.calls]
    assert calls == shape["calls"]
    starts = shape["call_starts"]
    if starts is None:
        assert started is None
    else:
        assert started is not None and started.offset == starts["offset"]
        assert started.name == starts["name"]
        assert started.result_tag == output[started.offset :].startswith("<tool_response>")
        assert output[: started.offset] == shape["shown"]  # nothing of the call was shown


def test_ordinary_text_is_shown_at_once() -> None:
    extractor = ToolCallExtractor(["code_interpreter"], {"code_interpreter": "code"})
    assert extractor.feed("The answer") == "The answer"
    assert extractor.feed(" is 1024 {") == " is 1024 "  # a brace may open a call: held
    assert extractor.feed("and more}.") == "{and more}."
