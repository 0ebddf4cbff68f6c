"""The views' models hold the data the views draw; each renders static HTML too.

The last test executes a real notebook (``%%assistant`` with a function tool,
on the embedded model) and converts it with nbconvert, as a saved notebook is
read on GitHub or in a course site: the run steps must be there as HTML.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from nbext.magics.function_tools import call_function, function_tool
from nbext.widgets.base import Panel, upserted
from nbext.widgets.context_window import ContextWindowView
from nbext.widgets.error_card import ErrorCard, card_for_run
from nbext.widgets.listings import ThreadRow, status_bundle, threads_bundle
from nbext.widgets.prompt_view import PromptView
from nbext.widgets.run_panel import RunPanel
from nbext.widgets.run_steps import RunSteps
from nbext.widgets.run_timeline import RunTimeline
from nbext.widgets.thread_view import ThreadView
from nbext.widgets.usage_meter import UsageMeter

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def text(value: str, annotations: list | None = None) -> dict:
    return {"type": "text", "text": {"value": value, "annotations": annotations or []}}


def test_thread_view_draws_roles_citations_images_and_attachments() -> None:
    cited = "Closes at 17:00【4:0†handbook】 on Fridays."
    start = cited.index("【")
    note = {
        "type": "file_citation",
        "text": "【4:0†handbook】",
        "start_index": start,
        "end_index": cited.index("】") + 1,
        "file_citation": {"file_id": "file-1", "quote": "17:00"},
    }
    view = ThreadView(
        title="thread t",
        messages=[
            {
                "id": "m1",
                "role": "user",
                "content": [text("When?")],
                "attachments": [{"file_id": "file-1", "tools": [{"type": "file_search"}]}],
            },
            {
                "id": "m2",
                "role": "assistant",
                "content": [
                    text(cited, [note]),
                    {"type": "image_file", "image_file": {"file_id": "file-2"}},
                ],
            },
        ],
        file_names={"file-1": "handbook.md"},
        images={"file-2": "data:image/png;base64,AAAA"},
    )
    html = view.value
    assert "nbext-role-user" in html and "nbext-role-assistant" in html
    assert "【" not in html and '<sup class="nbext-cite">[1]</sup>' in html
    assert "handbook.md — “17:00”" in html and "📎 handbook.md → file_search" in html
    assert 'src="data:image/png;base64,AAAA"' in html
    view.upsert({"id": "m2", "role": "assistant", "content": [text("changed")]})
    assert len(view.messages) == 2 and "changed" in view.value  # the live view follows
    bundle = view._repr_mimebundle_()
    assert bundle["text/plain"] == "thread t: 2 messages (1 user, 1 assistant)"
    view.earlier = 2  # a second turn: the thread holds 4, the view shows this turn's 2
    assert view.summary() == "thread t: 4 messages (2 earlier; this turn: 1 user, 1 assistant)"
    assert WIDGET_VIEW in bundle and bundle["text/html"] == view.render()


def test_timeline_records_statuses_and_durations() -> None:
    timeline = RunTimeline(run_id="run_1")
    for at, status in [
        (10.0, "created"),
        (10.0, "queued"),
        (10.5, "in_progress"),
        (12.0, "completed"),
    ]:
        timeline.record(status, at=at)
    assert timeline.statuses == ["created", "queued", "in_progress", "completed"]
    assert timeline.value.count("nbext-timeline-entry") == 4
    assert "1.50 s" in timeline.value and "Run timeline · 2.00 s" in timeline.value
    past = RunTimeline.from_run(
        {"id": "run_2", "status": "expired", "created_at": 1, "started_at": 2, "expires_at": 9}
    )
    assert past.statuses == ["queued", "in_progress", "expired"]


def test_steps_cards_for_each_tool_kind() -> None:
    steps = RunSteps(
        submitted_by={"call_f": "you (%assistant submit)"},
        message_texts={"msg_1": "It is 21 °C."},
        images={"file-img": "data:image/png;base64,BBBB"},
    )
    steps.upsert(
        {
            "id": "s1",
            "status": "completed",
            "step_details": {
                "type": "tool_calls",
                "tool_calls": [
                    {
                        "id": "call_c",
                        "type": "code_interpreter",
                        "code_interpreter": {
                            "input": "print(2+2)",
                            "outputs": [
                                {"type": "logs", "logs": "4"},
                                {"type": "image", "image": {"file_id": "file-img"}},
                            ],
                        },
                    },
                    {
                        "id": "call_s",
                        "type": "file_search",
                        "file_search": {
                            "results": [
                                {
                                    "file_id": "f1",
                                    "file_name": "faq.md",
                                    "score": 0.875,
                                    "content": [{"type": "text", "text": "Kettles boil."}],
                                }
                            ]
                        },
                    },
                    {
                        "id": "call_f",
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "arguments": '{"city": "Oslo"}',
                            "output": "-3",
                        },
                    },
                ],
            },
        }
    )
    steps.upsert(
        {
            "id": "s2",
            "status": "completed",
            "usage": {"prompt_tokens": 5, "completion_tokens": 2},
            "step_details": {
                "type": "message_creation",
                "message_creation": {"message_id": "msg_1"},
            },
        }
    )
    assert steps.kinds == ["tool_calls:code_interpreter,file_search,function", "message_creation"]
    html = steps.value
    assert html.count("nbext-step-card") == 2
    for part in (
        "nbext-tool-code_interpreter",
        "print(2+2)",
        "BBBB",
        "0.875",
        "faq.md",
        "Kettles boil.",
        "get_weather",
        "submitted by you (%assistant submit)",
        "It is 21 °C.",
        "5 in · 2 out",
    ):
        assert part in html
    steps.upsert(
        {
            "id": "s1",
            "status": "failed",
            "last_error": {"code": "server_error", "message": "boom"},
            "step_details": {"type": "tool_calls", "tool_calls": []},
        }
    )
    assert len(steps.steps) == 2 and "nbext-step-error" in steps.value


def test_context_window_marks_sent_and_omitted_against_the_budget() -> None:
    view = ContextWindowView(
        context={
            "sent_message_ids": ["b"],
            "omitted_message_ids": ["a"],
            "prompt_budget": 100,
            "prompt_tokens": 30,
            "context_window": 200,
            "truncation_strategy": {"type": "last_messages", "last_messages": 1},
            "token_counting": "usage",
        },
        messages=[
            {"id": "a", "role": "user", "tokens": 50, "estimated": False, "preview": "x"},
            {"id": "b", "role": "user", "tokens": 25, "estimated": False, "preview": "y"},
        ],
    )
    assert [m["id"] for m in view.sent] == ["b"] and [m["id"] for m in view.omitted] == ["a"]
    html = view.value
    assert "nbext-context-segment nbext-omitted" in html and "width:50.000%" in html
    assert "last_messages=1" in html and "left:100.000%" in html
    assert "tokens counted by characters per token from the backend&#x27;s reported usage" in html
    assert view.summary() == "context: 1 sent, 0 omitted".replace("0", "1")


def test_prompt_view_puts_the_run_request_beside_the_hand_made_one() -> None:
    view = PromptView(
        prompts=[
            {
                "index": 0,
                "request": {
                    "model": "m",
                    "messages": [
                        {"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "Hi"},
                    ],
                    "tools": [{"type": "function", "function": {"name": "f"}}],
                },
                "response": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}],
                },
            },
            {
                "index": 1,
                "request": {"messages": [{"role": "tool", "tool_call_id": "c", "content": "42"}]},
            },
        ],
        by_hand=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    )
    html = view.value
    assert html.count("nbext-prompt-call") == 2 and "%%chat --history" in html
    assert "→ f({})" in html and "[c] 42" in html and "tools: <code>f</code>" in html
    assert view.summary() == "prompts: 2 calls sending [2, 1] messages"


def test_usage_meter_and_error_cards() -> None:
    meter = UsageMeter(title="t")
    meter.add("run 1", 100, 10)
    meter.add("run 2", 220, 12)
    assert (
        meter.total == 342 and meter.value.count("nbext-usage-row") == 2 and "Σ 342" in meter.value
    )
    card = card_for_run(
        {"status": "failed", "last_error": {"code": "server_error", "message": "no model"}}
    )
    assert card is not None and card["level"] == "error"
    assert card_for_run({"status": "completed"}) is None
    errors = ErrorCard()
    errors.add(**card)
    assert (
        "nbext-error-card nbext-error" in errors.value and "server_error: no model" in errors.value
    )
    both = Panel([meter, errors])
    bundle = both._repr_mimebundle_()
    assert "nbext-usage-meter" in bundle["text/html"] and "nbext-error-card" in bundle["text/html"]


def test_function_schema_and_calls() -> None:
    def area(width: float, height: float = 1.0, unit: str | None = None) -> float:
        """Area of a rectangle.

        :param width: in metres
        """
        return width * height

    tool = function_tool(area)["function"]
    assert tool["description"] == "Area of a rectangle."
    assert tool["parameters"]["required"] == ["width"]
    assert tool["parameters"]["properties"]["width"] == {
        "type": "number",
        "description": "in metres",
    }
    assert call_function({"area": area}, "c", "area", '{"width": 2, "height": 3}').output == "6"
    failed = call_function({"area": area}, "c", "area", '{"depth": 1}')
    assert failed.error and "TypeError" in failed.error and '"error"' in failed.output


def test_the_package_exports_every_view_where_it_lives() -> None:
    import nbext.widgets as views

    for name in views.__all__:
        value = getattr(views, name)
        assert value.__module__.startswith("nbext.widgets."), name
    assert views.RunPanel is RunPanel and views.ThreadView is ThreadView


def test_upsert_replaces_by_id_and_keeps_the_order() -> None:
    items = [{"id": "a", "v": 1}, {"id": "b", "v": 1}]
    assert upserted(items, {"id": "a", "v": 2}) == [{"id": "a", "v": 2}, {"id": "b", "v": 1}]
    assert upserted(items, {"id": "c"}) == [*items, {"id": "c"}]
    assert items == [{"id": "a", "v": 1}, {"id": "b", "v": 1}]  # a new list: traitlets sees it


def test_listings_say_the_same_in_text_and_markup() -> None:
    status = status_bundle({"backend": "embedded", "doctor": "ok"})
    assert status["text/plain"] == "  backend: embedded\n   doctor: ok"
    assert "| backend | `embedded` |" in status["text/markdown"]
    rows = [ThreadRow("main", "thread_1", 2, current=True), ThreadRow("t2", "thread_2", 0)]
    threads = threads_bundle(rows)
    assert threads["text/plain"] == "* main  thread_1  2 runs\n  t2  thread_2  0 runs"
    assert threads["text/html"].count("nbext-thread-row") == 2
    assert threads_bundle([]) == {"text/plain": "no threads yet: run %%assistant first."}


def test_saved_notebook_shows_the_steps_as_static_html(tmp_path: Path) -> None:
    """Executed without stored widget state (JupyterLab's default), then converted."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext nbext"),
        nbformat.v4.new_code_cell(
            "def get_weather(city: str) -> dict:\n"
            '    """Get the current weather for a city."""\n'
            '    return {"city": city, "temperature_c": 21}'
        ),
        nbformat.v4.new_code_cell(
            "%%assistant --functions get_weather --tool-choice required --temperature 0\n"
            "What's the weather in Paris?"
        ),
    ]
    NotebookClient(
        nb, timeout=300, store_widget_state=False, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = nb.cells[2].outputs
    assert any(WIDGET_VIEW in o.get("data", {}) for o in outputs)
    html, _ = HTMLExporter().from_notebook_node(nb)
    (tmp_path / "static.html").write_text(html)
    assert html.count('class="nbext-step-card') == 2
    assert "nbext-tool-function" in html and "get_weather" in html
    assert "nbext-timeline-entry" in html
