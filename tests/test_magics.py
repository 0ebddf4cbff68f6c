"""``%%chat`` and ``%nbext`` in a real IPython shell, on the embedded model."""

from __future__ import annotations

import json

import pytest
from cell_output import assert_one_short_error, run, shown
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import CapturedIO
from openai.types.chat import ChatCompletion


@pytest.fixture(scope="module")
def shell(ipython_shell: InteractiveShell) -> InteractiveShell:
    return ipython_shell


def test_history_is_a_visible_list_resent_every_turn(shell: InteractiveShell) -> None:
    shell.user_ns.pop("conv", None)
    first, _ = run(shell, "%%chat --temperature 0 --history conv\nWhat is the capital of France?")
    assert "sent 1 message ·" in shown(first)
    assert [m["role"] for m in shell.user_ns["conv"]] == ["user", "assistant"]
    assert "Paris" in shell.user_ns["conv"][1]["content"]

    second, _ = run(shell, "%%chat --temperature 0 --history conv\nAnd of Italy?")
    assert "sent 3 messages" in shown(second)
    assert len(shell.user_ns["conv"]) == 4

    def prompt_tokens(captured: CapturedIO) -> int:
        return int(shown(captured).split(" tokens in")[0].rsplit("· ", 1)[1])

    assert prompt_tokens(second) > prompt_tokens(first)


def test_system_message_heads_the_history(shell: InteractiveShell) -> None:
    shell.user_ns.pop("pirate", None)
    run(shell, "%%chat --history pirate --system 'You are a pirate.' --max-tokens 10\nHello")
    assert shell.user_ns["pirate"][0] == {"role": "system", "content": "You are a pirate."}


def test_variables_expand_and_out_keeps_the_completion(shell: InteractiveShell) -> None:
    shell.user_ns["city"] = "Paris"
    shell.user_ns.pop("reply", None)
    flags = "--temperature 0 --no-stream --out reply --history trip"
    run(shell, f"%%chat {flags}\nIn which country is {{city}}?")
    assert shell.user_ns["trip"][0]["content"] == "In which country is Paris?"
    reply = shell.user_ns["reply"]
    assert isinstance(reply, ChatCompletion) and "France" in reply.choices[0].message.content


def test_json_flag_returns_a_json_object(shell: InteractiveShell) -> None:
    question = "Describe Paris as JSON with keys name and country."
    run(shell, f"%%chat --json --seed 1 --temperature 0 --out data\n{question}")
    assert isinstance(json.loads(shell.user_ns["data"].choices[0].message.content), dict)


def test_streaming_and_figures_are_displayed(shell: InteractiveShell) -> None:
    captured, _ = run(shell, "%%chat --max-tokens 5\nSay hello.")
    text = shown(captured)
    assert "tokens/s" in text and "first token" in text


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("%%chat --model llama-3-70b\nhi", "does not exist"),
        ("%%chat --temperature 5\nhi", "temperature"),
        ("%%chat\n   ", "the cell is empty"),
    ],
)
def test_mistakes_give_one_short_message(
    shell: InteractiveShell, source: str, expected: str
) -> None:
    captured, result = run(shell, source)
    assert result.success
    assert_one_short_error(captured, expected)


def test_a_skeleton_cell_sends_nothing_and_makes_the_history(shell: InteractiveShell) -> None:
    """An exercise starts from ``...`` cells: nothing is sent, the check can read the list."""
    shell.user_ns.pop("draft", None)
    captured, result = run(shell, "%%chat --history draft --system '...'\n...")
    assert result.success and shell.user_ns["draft"] == []
    text = shown(captured)
    assert "Nothing sent: write your message in place of the `...`" in text
    assert "tokens" not in text and "nbext error" not in text


def test_history_name_holding_something_else_is_left_alone(shell: InteractiveShell) -> None:
    shell.user_ns["taken"] = 42
    captured, _ = run(shell, "%%chat --history taken\nhi")
    assert "not a list" in shown(captured) and shell.user_ns["taken"] == 42


def test_unknown_flag_is_a_usage_error_pointing_at_help(shell: InteractiveShell) -> None:
    _, result = run(shell, "%%chat --bogus\nhi")
    assert not result.success
    assert "%%chat?" in str(result.error_in_exec)


def test_nbext_status_and_backend_switch(shell: InteractiveShell) -> None:
    captured, _ = run(shell, "%nbext")
    assert "qwen2.5-coder-0.5b-instruct" in shown(captured) and "server" in shown(captured)
    # The server's code_interpreter limits (NBEXT_CODE_*; the session sets none).
    assert "60 s wall, 120 CPU s, 1 GiB memory, 64 processes" in shown(captured)
    assert "the model's own tokenizer" in shown(captured)  # how truncation counts tokens

    captured, _ = run(shell, "%nbext backend http://127.0.0.1:9/v1 --model m")
    assert "Cannot reach the backend" in shown(captured)
    run(shell, "%%chat --max-tokens 3 --out ok\nhi")
    assert shell.user_ns["ok"].model == "qwen2.5-coder-0.5b-instruct"

    captured, _ = run(shell, "%nbext backend embedded")
    assert "embedded llama.cpp" in shown(captured)
