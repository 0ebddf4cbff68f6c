"""How long the thread view takes to draw a long thread, in kernel time.

Goal: a thread of 500 messages renders in the thread widget in under 1 s.
Measured twice: the widget alone (state in, HTML out, live value and the
saved output's static HTML), and ``%assistant show`` end to end (the 500
messages fetched through the openai client from a real server, 5 pages of
100, then drawn).

    .venv/bin/python benchmarks/bench_widgets.py
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from IPython.testing.globalipapp import start_ipython
from IPython.utils.capture import capture_output

from nbext import client as kit_client
from nbext.widgets.thread_view import ThreadView

MESSAGES = 500
REPEATS = 7


def message(i: int) -> dict:
    """A realistic message: a paragraph, every tenth with a citation and an attachment."""
    value = f"Message {i}: " + "the quick brown fox jumps over the lazy dog. " * 8
    annotations = []
    if i % 10 == 0:
        value += "【4:0†source】"
        annotations.append(
            {
                "type": "file_citation",
                "text": "【4:0†source】",
                "start_index": len(value) - 11,
                "end_index": len(value),
                "file_citation": {"file_id": "file-1", "quote": "brown fox"},
            }
        )
    return {
        "id": f"msg_{i}",
        "role": "user" if i % 2 == 0 else "assistant",
        "status": "completed",
        "content": [{"type": "text", "text": {"value": value, "annotations": annotations}}],
        "attachments": [{"file_id": "file-1", "tools": [{"type": "file_search"}]}]
        if i % 10 == 0
        else [],
    }


def timed(action: Callable[[], object]) -> list[float]:
    runs = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        action()
        runs.append(time.perf_counter() - started)
    return runs


def draw_widget() -> None:
    view = ThreadView(title="bench", messages=[message(i) for i in range(MESSAGES)])
    view._repr_mimebundle_()  # the static HTML a saved notebook keeps


def main() -> None:
    widget = timed(draw_widget)
    html_kb = len(ThreadView(messages=[message(i) for i in range(MESSAGES)]).value) / 1024

    # A throwaway in-memory database: the benchmark's 500 messages go nowhere.
    os.environ.setdefault("NBEXT_DB_URL", "sqlite://")
    shell = start_ipython()
    shell.run_line_magic("load_ext", "nbext")
    client = kit_client.make_client()
    thread = client.beta.threads.create()
    for i in range(MESSAGES):
        client.beta.threads.messages.create(thread.id, role="user", content=f"note {i}: " * 20)
    magics = shell.magics_manager.registry["AssistantMagics"]
    magics.book.thread(magics.client, thread.id)

    def show() -> None:
        with capture_output():
            shell.run_line_magic("assistant", "show")

    end_to_end = timed(show)
    print(f"thread view, {MESSAGES} messages ({html_kb:.0f} KiB of HTML), {REPEATS} runs")
    for label, runs in (
        ("widget: state -> HTML + static repr", widget),
        ("%assistant show: fetch 5 pages + draw", end_to_end),
    ):
        print(
            f"  {label:<40} median {statistics.median(runs) * 1000:7.1f} ms, "
            f"max {max(runs) * 1000:7.1f} ms"
        )
    assert max(widget) < 1.0 and max(end_to_end) < 1.0, "goal: under 1 s"


if __name__ == "__main__":
    main()
