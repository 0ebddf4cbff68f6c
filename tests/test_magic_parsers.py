"""The magics' lines, read into typed arguments: no kernel, no server, no model.

Two tables per magic: lines and the exact arguments they must give, and
mistakes and the exact kind of error (a ``UsageError`` fails the cell and
points at the help; a ``MagicError`` is one red line) with its message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from IPython.core.error import UsageError

from nbext.magics.failures import MagicError
from nbext.magics.parsers import (
    DRILLS,
    AssistantArgs,
    ChatArgs,
    DeleteArgs,
    NbextArgs,
    NewArgs,
    ShowArgs,
    StepsArgs,
    SubmitArgs,
    ThreadsArgs,
    ToolChoice,
    Truncation,
    UseArgs,
    cell_message,
    is_placeholder,
    parse_assistant_cell,
    parse_assistant_line,
    parse_chat,
    parse_nbext,
)

READS: list[tuple[Callable[[str], Any], str, Any]] = [
    # %%chat
    (parse_chat, "", ChatArgs()),
    (
        parse_chat,
        "--model m --temperature 0 --max-tokens 5 --seed 1 --json --no-stream",
        ChatArgs(model="m", temperature=0.0, max_tokens=5, seed=1, json=True, stream=False),
    ),
    (
        parse_chat,
        "--system 'You are terse.' --history conv --meter --out reply",
        ChatArgs(system="You are terse.", history="conv", meter=True, out="reply"),
    ),
    (parse_chat, '--system "a \\"quoted\\" word"', ChatArgs(system='a "quoted" word')),
    # %nbext
    (parse_nbext, "", NbextArgs()),
    (parse_nbext, "status", NbextArgs()),
    (parse_nbext, "backend embedded", NbextArgs("backend", "embedded")),
    (
        parse_nbext,
        "backend http://host:11434/v1 --model llama3 --key k",
        NbextArgs("backend", "http://host:11434/v1", key="k", model="llama3"),
    ),
    # %%assistant
    (parse_assistant_cell, "", AssistantArgs()),
    (
        parse_assistant_cell,
        "--assistant tutor --thread geo --temperature 0 --out final "
        "--instructions 'Answer in one short sentence.'",
        AssistantArgs(
            assistant="tutor",
            thread="geo",
            temperature=0.0,
            out="final",
            instructions="Answer in one short sentence.",
        ),
    ),
    (
        parse_assistant_cell,
        "--tools code_interpreter,file_search --files a.txt b.pdf",
        AssistantArgs(tools=("code_interpreter", "file_search"), files=("a.txt", "b.pdf")),
    ),
    (parse_assistant_cell, "--tools ''", AssistantArgs(tools=())),
    (
        parse_assistant_cell,
        "--functions 'get_weather, add' --tool-choice get_weather --manual",
        AssistantArgs(
            functions=("get_weather", "add"),
            tool_choice=ToolChoice("function", "get_weather"),
            manual=True,
        ),
    ),
    (
        parse_assistant_cell,
        "--tool-choice required",
        AssistantArgs(tool_choice=ToolChoice("required")),
    ),
    (
        parse_assistant_cell,
        "--tool-choice file_search",
        AssistantArgs(tool_choice=ToolChoice("file_search")),
    ),
    (parse_assistant_cell, "--truncation auto", AssistantArgs(truncation=Truncation())),
    (
        parse_assistant_cell,
        "--truncation last:1 --max-prompt-tokens 2000 --max-completion-tokens 300",
        AssistantArgs(truncation=Truncation(1), max_prompt_tokens=2000, max_completion_tokens=300),
    ),
    *[(parse_assistant_cell, f"--drill {d}", AssistantArgs(drill=d)) for d in DRILLS],
    # %assistant COMMAND
    (parse_assistant_line, "threads", ThreadsArgs()),
    (parse_assistant_line, "show", ShowArgs()),
    (parse_assistant_line, "show geo", ShowArgs("geo")),
    (parse_assistant_line, "steps", StepsArgs()),
    (parse_assistant_line, "steps run_abc", StepsArgs("run_abc")),
    (parse_assistant_line, "new", NewArgs()),
    (parse_assistant_line, "use thread_abc", UseArgs("thread_abc")),
    (parse_assistant_line, "delete asst_abc", DeleteArgs("asst_abc")),
    (parse_assistant_line, "submit", SubmitArgs(())),
    (
        parse_assistant_line,
        """submit '{"temperature_c": -3}' 'two words'""",
        SubmitArgs(('{"temperature_c": -3}', "two words")),
    ),
]


@pytest.mark.parametrize(("parse", "line", "expected"), READS)
def test_lines_read_into_typed_arguments(
    parse: Callable[[str], Any], line: str, expected: Any
) -> None:
    assert parse(line) == expected


def argparse_says(magic: str, start: str) -> re.Pattern[str]:
    """argparse's own wording (it varies a little between Python versions) in our frame."""
    help_hint = re.escape(f". Run `{magic}?` to see its flags.")
    return re.compile(f"{re.escape(f'{magic}: {start}')}.*{help_hint}")


MISTAKES: list[tuple[Callable[[str], Any], str, type[Exception], str | re.Pattern[str]]] = [
    # The line cannot be read: UsageError, naming the magic and its help.
    (
        parse_chat,
        "--bogus",
        UsageError,
        "%%chat: unrecognized arguments: --bogus. Run `%%chat?` to see its flags.",
    ),
    (
        parse_chat,
        "--temperature warm",
        UsageError,
        argparse_says("%%chat", "argument --temperature: invalid float value: 'warm'"),
    ),
    (
        parse_chat,
        "--system 'unclosed",
        UsageError,
        "%%chat: No closing quotation. Run `%%chat?` to see its flags.",
    ),
    (
        parse_nbext,
        "restart",
        UsageError,
        argparse_says("%nbext", "argument command: invalid choice: 'restart'"),
    ),
    (
        parse_nbext,
        "status embedded",
        UsageError,
        "%nbext: `status` takes no target ('embedded'); did you mean `%nbext backend embedded`? "
        "Run `%nbext?` to see its flags.",
    ),
    (
        parse_assistant_cell,
        "--truncation first:2",
        UsageError,
        "%%assistant: --truncation takes `auto` or `last:N` (e.g. last:4), not 'first:2'. "
        "Run `%%assistant?` to see its flags.",
    ),
    (
        parse_assistant_cell,
        "--truncation last:",
        UsageError,
        "%%assistant: --truncation takes `auto` or `last:N` (e.g. last:4), not 'last:'. "
        "Run `%%assistant?` to see its flags.",
    ),
    (
        parse_assistant_cell,
        "--drill explode",
        UsageError,
        argparse_says("%%assistant", "argument --drill: invalid choice: 'explode'"),
    ),
    (
        parse_assistant_cell,
        "--max-completion-tokens lots",
        UsageError,
        argparse_says("%%assistant", "argument --max-completion-tokens: invalid int value: 'lots'"),
    ),
    (
        parse_assistant_line,
        "fly",
        UsageError,
        "%assistant takes one of: threads, show, steps, new, use, delete, submit. "
        "Run `%assistant?` for help.",
    ),
    (
        parse_assistant_line,
        "",
        UsageError,
        "%assistant takes one of: threads, show, steps, new, use, delete, submit. "
        "Run `%assistant?` for help.",
    ),
    (
        parse_assistant_line,
        "use",
        UsageError,
        "%assistant use: the form is `%assistant use NAME_OR_THREAD_ID`; got `%assistant use`. "
        "Run `%assistant?` for help.",
    ),
    (
        parse_assistant_line,
        "delete a b",
        UsageError,
        "%assistant delete: the form is `%assistant delete THREAD_NAME_OR_ID | ASSISTANT_ID`; "
        "got `%assistant delete a b`. Run `%assistant?` for help.",
    ),
    (
        parse_assistant_line,
        "threads all",
        UsageError,
        "%assistant threads: the form is `%assistant threads`; got `%assistant threads all`. "
        "Run `%assistant?` for help.",
    ),
    (
        parse_assistant_line,
        "submit 'unclosed",
        UsageError,
        "%assistant: No closing quotation. Run `%assistant?` for help.",
    ),
    # The line reads but asks for what cannot be: one red line (MagicError).
    (
        parse_chat,
        "--history 1st",
        MagicError,
        "--history needs a Python variable name; '1st' is not one.",
    ),
    (
        parse_nbext,
        "backend",
        MagicError,
        "say which backend: `%nbext backend embedded` or `%nbext backend URL`.",
    ),
    (
        parse_assistant_cell,
        "--tools code_interpreter,web_browser",
        MagicError,
        "--tools knows code_interpreter, file_search; not web_browser.",
    ),
]


@pytest.mark.parametrize(("parse", "line", "kind", "message"), MISTAKES)
def test_mistakes_name_the_problem(
    parse: Callable[[str], Any], line: str, kind: type[Exception], message: str | re.Pattern[str]
) -> None:
    with pytest.raises(kind) as raised:
        parse(line)
    assert type(raised.value) is kind  # a MagicError must not pass for a UsageError
    if isinstance(message, str):
        assert str(raised.value) == message
    else:
        assert message.fullmatch(str(raised.value)), str(raised.value)


def test_ranges_are_left_to_the_server() -> None:
    """The server owns the limits (and words them as the learner's own code sees them)."""
    assert parse_chat("--temperature 5").temperature == 5.0
    assert parse_assistant_cell("--max-completion-tokens 10").max_completion_tokens == 10


@pytest.mark.parametrize(
    ("choice", "param"),
    [
        (ToolChoice("auto"), "auto"),
        (ToolChoice("none"), "none"),
        (ToolChoice("code_interpreter"), {"type": "code_interpreter"}),
        (ToolChoice("function", "f"), {"type": "function", "function": {"name": "f"}}),
    ],
)
def test_tool_choice_as_the_run_parameter(choice: ToolChoice, param: object) -> None:
    assert choice.param() == param


def test_truncation_as_the_run_parameter() -> None:
    assert Truncation().strategy() == {"type": "auto"}
    assert Truncation(4).strategy() == {"type": "last_messages", "last_messages": 4}


def test_an_empty_cell_is_one_red_line() -> None:
    assert cell_message("%%chat", "hi") == "hi"
    with pytest.raises(
        MagicError, match="the cell is empty: write the message to send below %%chat"
    ):
        cell_message("%%chat", "")


@pytest.mark.parametrize(
    ("text", "placeholder"),
    [("...", True), ("  …\n", True), ("What is ...?", False), ("....", False), ("hi", False)],
)
def test_a_cell_holding_only_dots_is_a_placeholder(text: str, placeholder: bool) -> None:
    assert is_placeholder(text) is placeholder


def test_arguments_are_frozen() -> None:
    args = parse_chat("--model m")
    with pytest.raises(AttributeError):
        args.model = "other"  # type: ignore[misc]
