"""``%%assistant`` and ``%assistant`` in a real IPython shell, on the embedded model.

Every flag and line command runs against the kernel's own server through the
real ``openai`` client; the assertions read the views' state (what the
widgets draw) and the static HTML a saved notebook keeps.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from cell_output import assert_one_short_error, run, shown
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import CapturedIO
from openai.types.beta.threads import Run

from nbext.backends.models import CATALOGUE
from nbext.client import model_id
from nbext.magics.assistant_book import NAME_KEY, AssistantBook
from nbext.magics.ipython_magics import AssistantMagics
from nbext.widgets import RunPanel

FUNCTIONS = '''
def get_weather(city: str) -> dict:
    """Get the current weather for a city.

    Args:
        city: the city's name
    """
    return {"city": city, "temperature_c": 21}

def broken_weather(city: str) -> dict:
    """Get the current weather for a city."""
    raise RuntimeError("sensor offline")
'''


@pytest.fixture(scope="module")
def shell(ipython_shell: InteractiveShell) -> InteractiveShell:
    ipython_shell.run_cell(FUNCTIONS)
    return ipython_shell


@pytest.fixture(scope="module")
def magics(shell: InteractiveShell) -> AssistantMagics:
    return shell.magics_manager.registry["AssistantMagics"]


@pytest.fixture(scope="module")
def tutor() -> str:
    """A fresh assistant name per session: the database may be shared."""
    return f"tutor-{uuid.uuid4().hex[:8]}"


def final_html(captured: CapturedIO) -> str:
    return str(captured.outputs[-1].data.get("text/html", ""))


def panel(magics: AssistantMagics) -> RunPanel:
    assert magics.last_panel is not None
    return magics.last_panel


def test_a_run_streams_into_every_view(
    shell: InteractiveShell, magics: AssistantMagics, tutor: str
) -> None:
    shell.user_ns["country"] = "France"
    flags = f"--assistant {tutor} --thread geo --temperature 0 --out final"
    instructions = "--instructions 'Answer in one short sentence.'"
    captured, _ = run(
        shell, f"%%assistant {flags} {instructions}\nWhat is the capital of {{country}}?"
    )
    final = shell.user_ns["final"]
    assert isinstance(final, Run) and final.status == "completed"
    live = panel(magics)
    assert live.timeline.statuses == ["created", "queued", "in_progress", "completed"]
    assert live.steps.kinds == ["message_creation"]
    roles = [m["role"] for m in live.thread.messages]
    assert roles == ["user", "assistant"]
    assert (
        live.thread.messages[0]["content"][0]["text"]["value"] == "What is the capital of France?"
    )
    assert "Paris" in live.thread.messages[1]["content"][0]["text"]["value"]
    assert live.context.context["sent_message_ids"] == [live.thread.messages[0]["id"]]
    request = live.prompts.prompts[0]["request"]
    assert request["messages"][0] == {"role": "system", "content": "Answer in one short sentence."}
    assert live.prompts.by_hand[-1]["content"] == "What is the capital of France?"
    assert live.usage.rows[0]["prompt_tokens"] == final.usage.prompt_tokens
    html = final_html(captured)
    for css in ("nbext-step-card", "nbext-timeline-entry", "nbext-context-bar", "nbext-message"):
        assert css in html
    assert "Traceback" not in shown(captured)


def test_assistant_is_found_by_name_after_a_restart(
    shell: InteractiveShell, magics: AssistantMagics, tutor: str
) -> None:
    known = magics.book.assistants[tutor]
    fresh = AssistantBook()  # a new kernel: nothing remembered but the server's metadata
    assert fresh.assistant(magics.client, tutor, {}).id == known
    changed = fresh.assistant(magics.client, tutor, {"instructions": "Be brief."})
    assert changed.id == known and changed.instructions == "Be brief."
    assert changed.metadata == {"nbext_name": tutor}


def test_a_named_assistant_follows_the_servers_model(magics: AssistantMagics) -> None:
    """Tutorial 05 run on the 0.5B, then again after `nbext model --use` the 1.5B: the
    "weather" assistant found by name still named the 0.5B, and every run failed
    ("model ... does not exist on this server"). Without --model it now follows."""
    served = model_id(magics.client)
    other = next(model for model in CATALOGUE if model != served)
    name = f"switched-{uuid.uuid4().hex[:8]}"
    made = magics.client.beta.assistants.create(model=other, name=name, metadata={NAME_KEY: name})
    found = AssistantBook().assistant(magics.client, name, {"model": None})
    assert found.id == made.id and found.model == served
    chosen = AssistantBook().assistant(magics.client, name, {"model": other})
    assert chosen.id == made.id and chosen.model == other  # --model still wins


def test_second_turn_resends_the_thread_and_truncation_drops_it(
    shell: InteractiveShell, magics: AssistantMagics, tutor: str
) -> None:
    run(shell, f"%%assistant --assistant {tutor} --thread geo --temperature 0\nAnd of Italy?")
    both = panel(magics).context
    assert len(both.sent) == 3 and both.omitted == []
    assert len(panel(magics).usage.rows) == 2  # cumulative per thread

    flags = "--truncation last:1 --max-prompt-tokens 2000 --max-completion-tokens 300 --out cut"
    run(shell, f"%%assistant --assistant {tutor} --thread geo {flags}\nAnd of Spain?")
    cut = shell.user_ns["cut"]
    assert cut.truncation_strategy.type == "last_messages"
    assert (cut.max_prompt_tokens, cut.max_completion_tokens) == (2000, 300)
    window = panel(magics).context
    assert len(window.sent) == 1 and len(window.omitted) == 4
    assert "nbext-omitted" in window.render()


def test_functions_run_in_the_kernel_and_are_submitted(
    shell: InteractiveShell, magics: AssistantMagics, tutor: str
) -> None:
    flags = "--functions get_weather --tool-choice required --temperature 0 --thread new"
    captured, _ = run(shell, f"%%assistant --assistant {tutor} {flags}\nWeather in Paris?")
    live = panel(magics)
    assert live.steps.kinds == ["tool_calls:function", "message_creation"]
    call = live.steps.steps[0]["step_details"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert call["function"]["output"] == '{"city": "Paris", "temperature_c": 21}'
    assert live.steps.submitted_by[call["id"]].startswith("nbext")
    assert "requires_action" in live.timeline.statuses
    assert live.timeline.statuses[-1] == "completed"
    tools = live.prompts.prompts[0]["request"]["tools"]
    assert tools[0]["function"]["parameters"]["properties"]["city"]["description"]
    assert "submitted by nbext" in final_html(captured)


def test_manual_stops_and_submit_resumes(
    shell: InteractiveShell, magics: AssistantMagics, tutor: str
) -> None:
    flags = "--functions get_weather --tool-choice required --manual --thread new --out paused"
    captured, _ = run(shell, f"%%assistant --assistant {tutor} {flags}\nWeather in Oslo?")
    assert shell.user_ns["paused"].status == "requires_action"
    assert "get_weather" in shown(captured) and "%assistant submit" in final_html(captured)
    assert panel(magics).errors.cards[0]["level"] == "action"

    captured, _ = run(shell, """%assistant submit '{"temperature_c": -3}'""")
    live = panel(magics)
    assert live.timeline.statuses[-1] == "completed"
    call = live.steps.steps[0]["step_details"]["tool_calls"][0]
    assert live.steps.submitted_by[call["id"]] == "you (%assistant submit)"
    captured, _ = run(shell, "%assistant submit 'again'")
    assert "no run is waiting" in shown(captured)


def test_a_crashing_function_is_a_card_not_a_traceback(
    shell: InteractiveShell, magics: AssistantMagics, tutor: str
) -> None:
    flags = (
        "--functions broken_weather --tool-choice required --thread new --max-completion-tokens 300"
    )
    captured, result = run(shell, f"%%assistant --assistant {tutor} {flags}\nWeather in Rome?")
    assert result.success and "Traceback" not in shown(captured)
    card = panel(magics).errors.cards[0]
    assert card["level"] == "error" and "sensor offline" in card["detail"]
    assert "nbext-error-card" in final_html(captured)


@pytest.mark.parametrize(
    ("drill", "cell", "status", "level"),
    [
        ("fail", "hi", "failed", "error"),
        ("cancel", "Write a long story about a lighthouse.", "cancelled", "info"),
        ("incomplete", "Tell me about Europe.", "incomplete", "warning"),
    ],
)
def test_drills_end_the_run_as_asked(
    shell: InteractiveShell,
    magics: AssistantMagics,
    tutor: str,
    drill: str,
    cell: str,
    status: str,
    level: str,
) -> None:
    captured, _ = run(
        shell, f"%%assistant --assistant {tutor} --thread new --drill {drill} --out d\n{cell}"
    )
    assert shell.user_ns["d"].status == status
    live = panel(magics)
    assert live.timeline.statuses[-1] == status
    assert live.errors.cards[-1]["level"] == level
    if drill == "fail":
        assert "does not exist" in live.errors.cards[-1]["detail"]
    if drill == "incomplete":  # decided by the prompt budget, never by what the model writes
        assert shell.user_ns["d"].incomplete_details.reason == "max_prompt_tokens"
    assert "Traceback" not in shown(captured)


def test_expire_drill(shell: InteractiveShell, magics: AssistantMagics, tutor: str) -> None:
    """The run asks for a short life (metadata nbext_expires_in) and is left unanswered."""
    run(shell, f"%%assistant --assistant {tutor} --thread new --drill expire --out e\nHolidays?")
    assert shell.user_ns["e"].status == "expired"
    assert panel(magics).timeline.statuses[-2:] == ["requires_action", "expired"]
    assert panel(magics).errors.cards[-1]["title"] == "run expired"


def test_line_commands(shell: InteractiveShell, magics: AssistantMagics) -> None:
    captured, _ = run(shell, "%assistant threads")
    assert "geo" in shown(captured)
    captured, _ = run(shell, "%assistant use geo")
    assert magics.book.current == "geo"
    captured, _ = run(shell, "%assistant show")
    assert "thread geo: 6 messages (3 user, 3 assistant)" in shown(captured)
    assert "nbext-thread" in final_html(captured)

    captured, _ = run(shell, "%assistant steps")
    assert "message_creation" in shown(captured)
    first = magics.book.threads["geo"].runs[0]
    captured, _ = run(shell, f"%assistant steps {first}")
    assert panel(magics).timeline.statuses[:2] == ["queued", "in_progress"]
    assert "nbext-step-card" in final_html(captured)

    run(shell, "%assistant new")
    name = magics.book.current
    assert name != "geo"
    thread_id = magics.book.threads[name].id
    captured, _ = run(shell, f"%assistant delete {name}")
    assert "deleted" in shown(captured) and magics.book.lookup(thread_id) is None
    captured, _ = run(shell, f"%assistant show {thread_id}")
    assert "No thread found" in shown(captured)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("%%assistant\n   ", "the cell is empty"),
        ("%%assistant --functions nothing_here\nhi", "no function called"),
        ("%%assistant --tools web_browser\nhi", "--tools knows"),
        ("%%assistant --files /no/such/file.txt\nhi", "no such file"),
        ("%%assistant --max-completion-tokens 10\nhi", "max_completion_tokens"),
        ("%assistant steps run_nope", "not made in this kernel"),
    ],
)
def test_mistakes_give_one_short_message(
    shell: InteractiveShell, source: str, expected: str
) -> None:
    captured, result = run(shell, source)
    assert result.success
    assert_one_short_error(captured, expected)


@pytest.mark.parametrize(
    "source", ["%%assistant --truncation first:2\nhi", "%%assistant --bogus\nhi", "%assistant fly"]
)
def test_usage_errors_point_at_help(shell: InteractiveShell, source: str) -> None:
    _, result = run(shell, source)
    assert not result.success and "%assistant" in str(result.error_in_exec)


def test_files_are_uploaded_and_attached_or_the_gap_is_named(
    shell: InteractiveShell, magics: AssistantMagics, tutor: str, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("The office closes at 17:00 on Fridays.")
    flags = f"--assistant {tutor} --thread new --files {notes} --max-completion-tokens 300"
    captured, result = run(shell, f"%%assistant {flags}\nSummarise the file.")
    assert result.success and "Traceback" not in shown(captured)
    if "has no files API" in shown(captured):
        return  # the files routes have not landed in this server yet
    message = panel(magics).thread.messages[0]
    assert message["attachments"][0]["tools"] == [{"type": "file_search"}]
    assert "notes.txt" in final_html(captured)


def test_chat_history_meter_grows(shell: InteractiveShell) -> None:
    shell.user_ns.pop("meter_conv", None)
    run(shell, "%%chat --temperature 0 --max-tokens 10 --history meter_conv --meter\nHi")
    captured, _ = run(
        shell, "%%chat --temperature 0 --max-tokens 10 --history meter_conv --meter\nAgain"
    )
    html = final_html(captured)
    assert html.count("nbext-usage-row") == 2 and "every call resends it" in html
