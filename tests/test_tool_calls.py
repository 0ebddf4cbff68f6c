"""Reading tool calls out of streamed model text (no model needed)."""

from __future__ import annotations

import json

from nbext.backends.tool_calls import ToolCallExtractor, arguments_as_objects

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
