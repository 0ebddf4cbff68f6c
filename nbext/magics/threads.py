"""``%assistant COMMAND``: the kernel's threads and runs, one handler per command.

``threads`` lists them, ``show`` draws a thread, ``steps`` draws a run's views
again, ``new`` / ``use`` / ``delete`` manage them, ``submit`` answers a run
that ``--manual`` left waiting for function outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from IPython.display import display

from nbext.client import shared_client
from nbext.magics.assistant_book import AssistantSession, ThreadEntry
from nbext.magics.failures import MagicError
from nbext.magics.parsers import (
    DeleteArgs,
    LineArgs,
    NewArgs,
    ShowArgs,
    StepsArgs,
    SubmitArgs,
    ThreadsArgs,
    UseArgs,
)
from nbext.magics.run_fetch import thread_messages
from nbext.magics.run_stream import (
    PanelHandler,
    await_outputs,
    finish_panel,
    stream_into,
    submit_stream,
)
from nbext.widgets.listings import ThreadRow, threads_bundle
from nbext.widgets.notice import show_note
from nbext.widgets.run_panel import RunPanel
from nbext.widgets.run_timeline import RunTimeline
from nbext.widgets.thread_view import ThreadView

SUBMITTED_BY_YOU = "you (%assistant submit)"


def threads(session: AssistantSession, _args: ThreadsArgs) -> None:
    book = session.book
    rows = [
        ThreadRow(name, entry.id, len(entry.runs), current=name == book.current)
        for name, entry in book.threads.items()
    ]
    display(threads_bundle(rows), raw=True)


def show(session: AssistantSession, args: ShowArgs) -> None:
    entry = _known_thread(session, args.thread)
    client = shared_client.get()
    files = session.files(client)
    messages = thread_messages(client, entry.id)
    files.collect(messages)
    view = ThreadView(
        title=f"thread {entry.name}",
        messages=messages,
        file_names=dict(files.names),
        images=dict(files.images),
    )
    display(view)


def steps(session: AssistantSession, args: StepsArgs) -> None:
    book = session.book
    run_id = args.run_id or book.last_run()
    if run_id is None:
        raise MagicError("no run yet: run %%assistant first, or give a run id.")
    thread_id = book.run_threads.get(run_id)
    if thread_id is None:
        raise MagicError(
            f"{run_id} was not made in this kernel: say `%assistant use THREAD` "
            "first is not enough; give a run this kernel made."
        )
    client = shared_client.get()
    run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
    live = RunPanel(show=False)
    session.last_panel = live
    timeline = RunTimeline.from_run(run.model_dump(mode="json"))
    live.timeline.run_id, live.timeline.entries = timeline.run_id, timeline.entries
    entry = book.lookup(thread_id)
    finish_panel(client, live, run, session.files(client), [], book.submitted_by)
    if entry is not None:
        live.usage.rows = list(entry.usage)
    live.panel.flush()
    display(live.panel)


def new(session: AssistantSession, _args: NewArgs) -> None:
    entry = session.book.new_thread(shared_client.get())
    show_note(f"new thread {entry.name} is now current")


def use(session: AssistantSession, args: UseArgs) -> None:
    entry = session.book.thread(shared_client.get(), args.thread)
    show_note(f"thread {entry.name} is now current")


def delete(session: AssistantSession, args: DeleteArgs) -> None:
    book = session.book
    client = shared_client.get()
    if args.target.startswith("asst_"):
        client.beta.assistants.delete(args.target)
        book.assistants = {k: v for k, v in book.assistants.items() if v != args.target}
        show_note("assistant deleted")
        return
    entry = book.lookup(args.target) or ThreadEntry(args.target, args.target)
    client.beta.threads.delete(entry.id)
    book.forget(entry)
    show_note(f"thread {entry.name} deleted")


def submit(session: AssistantSession, args: SubmitArgs) -> None:
    book = session.book
    if book.pending is None:
        raise MagicError("no run is waiting for tool outputs (use --manual to stop at one).")
    thread_id, run_id = book.pending
    client = shared_client.get()
    run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
    if run.status != "requires_action" or run.required_action is None:
        book.pending = None
        raise MagicError(f"that run is {run.status} now; it no longer takes tool outputs.")
    calls = run.required_action.submit_tool_outputs.tool_calls
    if len(args.outputs) != len(calls):
        raise MagicError(f"the run waits for {len(calls)} output(s); {len(args.outputs)} given.")
    outputs = [
        {"tool_call_id": c.id, "output": o} for c, o in zip(calls, args.outputs, strict=True)
    ]
    for call in calls:
        book.submitted_by[call.id] = SUBMITTED_BY_YOU
    book.pending = None
    entry = book.lookup(thread_id) or ThreadEntry(thread_id, thread_id)
    live = RunPanel()
    session.last_panel = live
    live.thread.title = f"thread {entry.name}"
    live.run = run
    live.timeline.run_id = run.id
    run = stream_into(live, submit_stream(client, run, outputs), PanelHandler(live))
    if run.status == "requires_action":
        await_outputs(live, run, book)
    finish_panel(client, live, run, session.files(client), entry.usage, book.submitted_by)


def _known_thread(session: AssistantSession, name: str | None) -> ThreadEntry:
    book = session.book
    if name is None:
        if book.current is None:
            raise MagicError("no current thread: run %%assistant first.")
        return book.threads[book.current]
    entry = book.lookup(name)
    if entry is None and name.startswith("thread_"):
        entry = ThreadEntry(name, name)
    if entry is None:
        raise MagicError(f"no thread called {name!r} in this kernel (see %assistant threads).")
    return entry


HANDLERS: dict[type[Any], Callable[[AssistantSession, Any], None]] = {
    ThreadsArgs: threads,
    ShowArgs: show,
    StepsArgs: steps,
    NewArgs: new,
    UseArgs: use,
    DeleteArgs: delete,
    SubmitArgs: submit,
}
"""Each line command's arguments -> its handler."""


def line_command(session: AssistantSession, args: LineArgs) -> None:
    """Run the handler of the command ``args`` stands for."""
    HANDLERS[type(args)](session, args)
