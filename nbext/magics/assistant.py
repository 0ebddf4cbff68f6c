"""``%%assistant`` and ``%assistant``: the Assistants API side of the lesson in a cell.

The cell becomes a user message on a thread; a run of a named assistant is
streamed into live views (thread, timeline, steps, usage, context window,
prompts). Everything goes through the official ``openai`` client to the
kit's server, as the learner's own code would. ``--drill`` makes the next
run end in one of the statuses a real application must handle.
"""

from __future__ import annotations

import contextlib
import shlex
from pathlib import Path
from typing import Any

import openai
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display

from nbext import client as kit_client
from nbext.errors import APIError
from nbext.magics.assistant_book import AssistantBook, ThreadEntry
from nbext.magics.chat import DROPPED_CONNECTION, describe_failure, parse_flags
from nbext.magics.function_tools import function_tool
from nbext.magics.run_inspect import FileCache, as_json
from nbext.magics.run_live import (
    PanelHandler,
    RunPanel,
    finish_panel,
    function_loop,
    stream_into,
    submit_stream,
    wait_while,
)
from nbext.protocol import EXPIRES_IN_KEY
from nbext.widgets.html_kit import esc
from nbext.widgets.notice import show_error
from nbext.widgets.run_timeline import RunTimeline

DRILLS = ("cancel", "expire", "fail", "incomplete")
DRILL_MODEL = "nbext-drill-no-such-model"
"""A model name no backend serves: the run fails in the worker, with last_error."""
DRILL_EXPIRES_IN = 10
"""Long enough for the forced tool call to arrive on a busy machine, short enough to watch."""
LONG_ANSWER = (
    "You write very long, detailed answers: at least 1000 words, in many paragraphs, "
    "whatever the question."
)
LINE_COMMANDS = ("threads", "show", "steps", "new", "use", "delete", "submit")
FILE_TOOLS = ("code_interpreter", "file_search")


def _csv(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _truncation(text: str | None) -> dict[str, Any] | None:
    """``auto`` or ``last:N`` as a ``truncation_strategy``."""
    if not text:
        return None
    if text == "auto":
        return {"type": "auto"}
    if text.startswith("last:") and text[5:].isdigit():
        return {"type": "last_messages", "last_messages": int(text[5:])}
    raise UsageError(
        f"%%assistant: --truncation takes `auto` or `last:N` (e.g. last:4), not {text!r}. "
        "Run `%%assistant?` to see its flags."
    )


@magics_class
class AssistantMagics(Magics):
    """The Assistants magics; one client and one book of names per kernel."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._files: FileCache | None = None
        self.book = AssistantBook()
        self.last_panel: RunPanel | None = None
        """The views of the last run shown (tests and curious learners read their state)."""

    @property
    def client(self) -> openai.OpenAI:
        return kit_client.shared_client.get()

    @property
    def files(self) -> FileCache:
        client = self.client
        if self._files is None or self._files.client is not client:
            self._files = FileCache(client)
        return self._files

    @magic_arguments()
    @argument("--assistant", metavar="NAME", default="nbext", help="assistant (made on first use)")
    @argument("--instructions", help="the assistant's instructions (updates it if changed)")
    @argument("--model", help="the assistant's model (default: the server's model)")
    @argument("--tools", metavar="LIST", help="server-side tools: code_interpreter,file_search")
    @argument("--files", metavar="PATH", nargs="+", help="upload these files and attach them")
    @argument("--thread", metavar="NAME", help="thread name, a thread id, or `new`")
    @argument("--functions", metavar="LIST", help="Python functions f,g offered as function tools")
    @argument(
        "--tool-choice",
        metavar="CHOICE",
        help="auto, required, none, code_interpreter, file_search or a function name",
    )
    @argument("--manual", action="store_true", help="stop at requires_action; submit by hand")
    @argument("--truncation", metavar="auto|last:N", help="truncation strategy of the run")
    @argument("--max-prompt-tokens", type=int, help="prompt token budget of the run (>= 256)")
    @argument("--max-completion-tokens", type=int, help="completion budget of the run (>= 256)")
    @argument("--temperature", type=float, help="sampling temperature of the run")
    @argument("--drill", choices=DRILLS, help="end this run cancelled/expired/failed/incomplete")
    @argument("--out", metavar="VAR", help="store the final Run in VAR")
    @line_cell_magic
    def assistant(self, line: str, cell: str | None = None) -> None:
        """Run an assistant on the cell, or manage threads with a line command.

        Cell: ``%%assistant [flags]`` sends the cell (``{name}`` expanded) as a user
        message and streams a run. Line: ``%assistant threads | show [THREAD] |
        steps [RUN] | new | use ID | delete ID | submit OUTPUT...``.
        """
        try:
            if cell is None:
                self._line(line)
            else:
                self._cell(line, cell)
        except (openai.OpenAIError, APIError, *DROPPED_CONNECTION) as error:
            show_error(describe_failure(error, kit_client.shared_client.base_url))

    # -- %%assistant ---------------------------------------------------------

    def _cell(self, line: str, cell: str) -> None:
        args = parse_flags(self.assistant, line, "%%assistant")
        prompt = self.shell.var_expand(cell.strip(), depth=2)
        if not prompt:
            show_error("the cell is empty: write the message to send below %%assistant.")
            return
        functions = self._functions(_csv(args.functions))
        tools = _csv(args.tools)
        unknown = [t for t in tools if t not in FILE_TOOLS]
        if functions is None or unknown:
            if unknown:
                show_error(f"--tools knows {', '.join(FILE_TOOLS)}; not {', '.join(unknown)}.")
            return
        truncation = _truncation(args.truncation)
        attachments = self._upload(args.files or [], tools)
        if attachments is None:
            return
        settings = {
            "instructions": args.instructions,
            "model": args.model,
            "tools": [{"type": t} for t in tools] if args.tools is not None else None,
        }
        assistant = self.book.assistant(self.client, args.assistant, settings)
        entry = self.book.thread(self.client, args.thread)
        message = self.client.beta.threads.messages.create(
            entry.id,
            role="user",
            content=prompt,
            **({"attachments": attachments} if attachments else {}),
        )
        params = self._run_params(args, assistant, functions, truncation)
        live = RunPanel()
        self.last_panel = live
        live.thread.title = f"thread {entry.name}"
        live.thread.upsert(as_json(message))
        hook = self._cancel_hook if args.drill == "cancel" else None

        def start(handler: Any) -> Any:
            return self.client.beta.threads.runs.stream(
                thread_id=entry.id, event_handler=handler, **params
            )

        run = stream_into(live, start, PanelHandler(live, on_first_delta=hook))
        self._remember(entry, run.id)
        if run.status == "requires_action":
            if args.drill == "expire":
                run = self._expire_drill(live, run)
            elif args.manual or not functions:
                self._await_outputs(live, run)
            else:
                run = function_loop(self.client, live, run, functions, self.book.submitted_by)
        finish_panel(self.client, live, run, self.files, entry.usage, self.book.submitted_by)
        if args.out:
            self.shell.user_ns[args.out] = run

    def _functions(self, names: list[str]) -> dict[str, Any] | None:
        found: dict[str, Any] = {}
        for name in names:
            value = self.shell.user_ns.get(name)
            if not callable(value):
                show_error(f"--functions {name}: no function called {name!r} in your namespace.")
                return None
            found[name] = value
        return found

    def _upload(self, paths: list[str], tools: list[str]) -> list[dict[str, Any]] | None:
        """Upload and describe attachments; None (after saying why) if that fails."""
        attach_tools = [{"type": t} for t in (tools or ["file_search"])]
        attachments = []
        for name in paths:
            path = Path(name).expanduser()
            if not path.is_file():
                show_error(f"--files {name}: no such file.")
                return None
            try:
                with path.open("rb") as handle:
                    uploaded = self.client.files.create(file=handle, purpose="assistants")
            except openai.NotFoundError:
                show_error(
                    "this nbext server has no files API (POST /v1/files answered 404): "
                    "--files needs a server version with files and vector stores."
                )
                return None
            self.files.names[uploaded.id] = path.name
            attachments.append({"file_id": uploaded.id, "tools": attach_tools})
        return attachments

    def _run_params(
        self,
        args: Any,
        assistant: Any,
        functions: dict[str, Any],
        truncation: dict[str, Any] | None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"assistant_id": assistant.id}
        if functions:
            kept = assistant.tools  # a run's ``tools`` replaces the assistant's: keep them
            params["tools"] = [t.model_dump(mode="json", exclude_none=True) for t in kept]
            params["tools"] += [function_tool(f) for f in functions.values()]
        optional = {
            "temperature": args.temperature,
            "truncation_strategy": truncation,
            "max_prompt_tokens": args.max_prompt_tokens,
            "max_completion_tokens": args.max_completion_tokens,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        if args.tool_choice:
            choice = args.tool_choice
            if choice in ("auto", "required", "none"):
                params["tool_choice"] = choice
            elif choice in FILE_TOOLS:
                params["tool_choice"] = {"type": choice}
            else:
                params["tool_choice"] = {"type": "function", "function": {"name": choice}}
        if args.drill == "fail":
            params["model"] = DRILL_MODEL
        elif args.drill == "incomplete":
            params["max_completion_tokens"] = 256
            params["instructions"] = LONG_ANSWER
        elif args.drill == "expire":
            params["metadata"] = {EXPIRES_IN_KEY: str(DRILL_EXPIRES_IN)}
            if not functions:
                params["tools"] = [function_tool(_drill_lookup)]
            params["tool_choice"] = "required"
        return params

    def _cancel_hook(self, run: Any) -> None:
        with contextlib.suppress(openai.BadRequestError):  # it finished first
            self.client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)

    def _expire_drill(self, live: RunPanel, run: Any) -> Any:
        """Leave the run waiting for tool outputs until it expires.

        The run was created with the metadata ``nbext_expires_in`` (nbext's own
        extension), so the server gives it seconds instead of ten minutes.
        """
        live.errors.add(
            "action",
            f"drill: leaving the run in requires_action for {DRILL_EXPIRES_IN} s",
            "nobody submits the tool outputs, so the run expires",
        )
        live.refresh()
        return wait_while(self.client, live, run, "requires_action", DRILL_EXPIRES_IN + 4)

    def _await_outputs(self, live: RunPanel, run: Any) -> None:
        calls = run.required_action.submit_tool_outputs.tool_calls
        self.book.pending = (run.thread_id, run.id)
        listed = "; ".join(f"{c.function.name}({c.function.arguments}) [{c.id}]" for c in calls)
        live.errors.add(
            "action",
            f"requires_action: {len(calls)} function call(s) wait for your output",
            listed,
            "Run `%assistant submit 'OUTPUT' ...` (one output per call, in order), or call "
            "client.beta.threads.runs.submit_tool_outputs(run_id=..., thread_id=..., "
            "tool_outputs=[{'tool_call_id': ..., 'output': ...}]) yourself.",
        )

    def _remember(self, entry: ThreadEntry, run_id: str) -> None:
        self.book.run_threads[run_id] = entry.id
        if run_id not in entry.runs:
            entry.runs.append(run_id)

    # -- %assistant COMMAND --------------------------------------------------

    def _line(self, line: str) -> None:
        words = shlex.split(line)
        if not words or words[0] not in LINE_COMMANDS:
            raise UsageError(
                f"%assistant takes one of: {', '.join(LINE_COMMANDS)}. Run `%assistant?` for help."
            )
        command, rest = words[0], words[1:]
        getattr(self, f"_cmd_{command}")(rest)

    def _cmd_threads(self, _rest: list[str]) -> None:
        rows = [
            (("*" if name == self.book.current else " "), name, t.id, len(t.runs))
            for name, t in self.book.threads.items()
        ]
        if not rows:
            display({"text/plain": "no threads yet: run %%assistant first."}, raw=True)
            return
        text = "\n".join(f"{c} {n}  {i}  {r} runs" for c, n, i, r in rows)
        cells = "".join(
            f"<tr class='nbext-thread-row'><td>{c}</td><td>{esc(n)}</td><td><code>{esc(i)}"
            f"</code></td><td>{r}</td></tr>"
            for c, n, i, r in rows
        )
        table = (
            "<table class='nbext-threads'><tr><th></th><th>name</th><th>id</th><th>runs</th>"
            f"</tr>{cells}</table>"
        )
        display({"text/plain": text, "text/html": table}, raw=True)

    def _cmd_show(self, rest: list[str]) -> None:
        from nbext.magics.run_inspect import thread_messages
        from nbext.widgets.thread_view import ThreadView

        entry = self._known_thread(rest[0] if rest else None)
        messages = thread_messages(self.client, entry.id)
        self.files.collect(messages)
        view = ThreadView(
            title=f"thread {entry.name}",
            messages=messages,
            file_names=dict(self.files.names),
            images=dict(self.files.images),
        )
        display(view)

    def _cmd_steps(self, rest: list[str]) -> None:
        run_id = rest[0] if rest else self.book.last_run()
        if run_id is None:
            raise APIError("no run yet: run %%assistant first, or give a run id.")
        thread_id = self.book.run_threads.get(run_id)
        if thread_id is None:
            raise APIError(
                f"{run_id} was not made in this kernel: say `%assistant use THREAD` "
                "first is not enough; give a run this kernel made."
            )
        run = self.client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        live = RunPanel(show=False)
        self.last_panel = live
        timeline = RunTimeline.from_run(run.model_dump(mode="json"))
        live.timeline.run_id, live.timeline.entries = timeline.run_id, timeline.entries
        entry = self.book.lookup(thread_id)
        finish_panel(self.client, live, run, self.files, [], self.book.submitted_by)
        if entry is not None:
            live.usage.rows = list(entry.usage)
        live.panel.flush()
        display(live.panel)

    def _cmd_new(self, _rest: list[str]) -> None:
        entry = self.book.new_thread(self.client)
        display({"text/plain": f"new thread {entry.name} is now current"}, raw=True)

    def _cmd_use(self, rest: list[str]) -> None:
        if not rest:
            raise UsageError("%assistant use NAME_OR_THREAD_ID")
        entry = self.book.thread(self.client, rest[0])
        display({"text/plain": f"thread {entry.name} is now current"}, raw=True)

    def _cmd_delete(self, rest: list[str]) -> None:
        if not rest:
            raise UsageError("%assistant delete THREAD_NAME_OR_ID | ASSISTANT_ID")
        target = rest[0]
        if target.startswith("asst_"):
            self.client.beta.assistants.delete(target)
            self.book.assistants = {k: v for k, v in self.book.assistants.items() if v != target}
            display({"text/plain": "assistant deleted"}, raw=True)
            return
        entry = self.book.lookup(target) or ThreadEntry(target, target)
        self.client.beta.threads.delete(entry.id)
        self.book.forget(entry)
        display({"text/plain": f"thread {entry.name} deleted"}, raw=True)

    def _cmd_submit(self, rest: list[str]) -> None:
        if self.book.pending is None:
            raise APIError("no run is waiting for tool outputs (use --manual to stop at one).")
        thread_id, run_id = self.book.pending
        run = self.client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status != "requires_action" or run.required_action is None:
            self.book.pending = None
            raise APIError(f"that run is {run.status} now; it no longer takes tool outputs.")
        calls = run.required_action.submit_tool_outputs.tool_calls
        if len(rest) != len(calls):
            raise APIError(f"the run waits for {len(calls)} output(s); {len(rest)} given.")
        outputs = [{"tool_call_id": c.id, "output": o} for c, o in zip(calls, rest, strict=True)]
        for call in calls:
            self.book.submitted_by[call.id] = "you (%assistant submit)"
        self.book.pending = None
        entry = self.book.lookup(thread_id) or ThreadEntry(thread_id, thread_id)
        live = RunPanel()
        self.last_panel = live
        live.thread.title = f"thread {entry.name}"
        live.run = run
        live.timeline.run_id = run.id
        run = stream_into(live, submit_stream(self.client, run, outputs), PanelHandler(live))
        if run.status == "requires_action":
            self._await_outputs(live, run)
        finish_panel(self.client, live, run, self.files, entry.usage, self.book.submitted_by)

    def _known_thread(self, name: str | None) -> ThreadEntry:
        if name is None:
            if self.book.current is None:
                raise APIError("no current thread: run %%assistant first.")
            return self.book.threads[self.book.current]
        entry = self.book.lookup(name)
        if entry is None and name.startswith("thread_"):
            entry = ThreadEntry(name, name)
        if entry is None:
            raise APIError(f"no thread called {name!r} in this kernel (see %assistant threads).")
        return entry


def _drill_lookup(question: str) -> str:
    """Look up the answer to a question in the company wiki.

    Args:
        question: the question to look up.
    """
    return "The wiki is down."
