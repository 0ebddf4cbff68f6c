"""``%%assistant``: the Assistants API side of the lesson in a cell.

The cell becomes a user message on a thread; a run of a named assistant is
streamed into live views (thread, timeline, steps, usage, context window,
prompts). Everything goes through the official ``openai`` client to the
kit's server, as the learner's own code would. ``--drill`` makes the run end
in one of the statuses a real application must handle.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
from IPython.core.interactiveshell import InteractiveShell
from openai.types.beta import Assistant
from openai.types.beta.threads import Run

from nbext.client import shared_client
from nbext.magics.assistant_book import AssistantSession
from nbext.magics.failures import MagicError
from nbext.magics.function_tools import function_tool
from nbext.magics.parsers import AssistantArgs
from nbext.magics.run_fetch import as_json
from nbext.magics.run_stream import (
    PanelHandler,
    await_outputs,
    finish_panel,
    function_loop,
    stream_into,
    wait_while,
)
from nbext.protocol import EXPIRES_IN_KEY
from nbext.widgets.run_panel import RunPanel

DRILL_MODEL = "nbext-drill-no-such-model"
"""A model name no backend serves: the run fails in the worker, with last_error."""
DRILL_EXPIRES_IN = 10
"""Long enough for the forced tool call to arrive on a busy machine, short enough to watch."""
DRILL_MAX_PROMPT_TOKENS = 256
"""The smallest prompt budget the API accepts."""
LONG_INSTRUCTIONS = " ".join(
    f"Rule {n}: read the question twice, check every fact, and say where it comes from."
    for n in range(1, 31)
)
"""Instructions of about 600 tokens: with the thread they cannot fit 256 prompt
tokens, so the run ends ``incomplete`` (reason ``max_prompt_tokens``) whatever the
model would have written. A budget on the *answer* would not do: a small model
asked for a long answer sometimes ends before any budget the API accepts."""


def assistant(
    session: AssistantSession, shell: InteractiveShell, args: AssistantArgs, prompt: str
) -> None:
    """Post ``prompt`` on the thread and stream a run of the assistant into a new panel."""
    client = shared_client.get()
    functions = _functions(shell, args.functions)
    attachments = _upload(session, client, args.files, args.tools or ())
    settings = {
        "instructions": args.instructions,
        "model": args.model,
        "tools": [{"type": t} for t in args.tools] if args.tools is not None else None,
    }
    book = session.book
    found = book.assistant(client, args.assistant, settings)
    entry = book.thread(client, args.thread)
    message = client.beta.threads.messages.create(
        entry.id,
        role="user",
        content=prompt,
        **({"attachments": attachments} if attachments else {}),
    )
    params = _run_params(args, found, functions)
    live = RunPanel()
    session.last_panel = live
    live.thread.title = f"thread {entry.name}"
    live.thread.upsert(as_json(message))
    hook = _cancel_hook(client) if args.drill == "cancel" else None

    def start(handler: Any) -> Any:
        return client.beta.threads.runs.stream(thread_id=entry.id, event_handler=handler, **params)

    run = stream_into(live, start, PanelHandler(live, on_first_delta=hook))
    book.remember_run(entry, run.id)
    if run.status == "requires_action":
        if args.drill == "expire":
            run = _expire_drill(client, live, run)
        elif args.manual or not functions:
            await_outputs(live, run, book)
        else:
            run = function_loop(client, live, run, functions, book.submitted_by)
    finish_panel(client, live, run, session.files(client), entry.usage, book.submitted_by)
    if args.out:
        shell.user_ns[args.out] = run


def _functions(shell: InteractiveShell, names: tuple[str, ...]) -> dict[str, Callable[..., Any]]:
    """``--functions``: the learner's functions, by name, from their namespace."""
    found: dict[str, Callable[..., Any]] = {}
    for name in names:
        value = shell.user_ns.get(name)
        if not callable(value):
            raise MagicError(f"--functions {name}: no function called {name!r} in your namespace.")
        found[name] = value
    return found


def _upload(
    session: AssistantSession, client: openai.OpenAI, paths: tuple[str, ...], tools: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Upload ``--files`` and describe them as the message's attachments."""
    attach_tools = [{"type": t} for t in (tools or ["file_search"])]
    attachments = []
    for name in paths:
        path = Path(name).expanduser()
        if not path.is_file():
            raise MagicError(f"--files {name}: no such file.")
        try:
            with path.open("rb") as handle:
                uploaded = client.files.create(file=handle, purpose="assistants")
        except openai.NotFoundError:
            raise MagicError(
                "this nbext server has no files API (POST /v1/files answered 404): "
                "--files needs a server version with files and vector stores."
            ) from None
        session.files(client).names[uploaded.id] = path.name
        attachments.append({"file_id": uploaded.id, "tools": attach_tools})
    return attachments


def _run_params(
    args: AssistantArgs, assistant: Assistant, functions: dict[str, Callable[..., Any]]
) -> dict[str, Any]:
    """The arguments of ``runs.stream`` besides the thread and the event handler."""
    params: dict[str, Any] = {"assistant_id": assistant.id}
    if functions:
        kept = assistant.tools  # a run's ``tools`` replaces the assistant's: keep them
        params["tools"] = [t.model_dump(mode="json", exclude_none=True) for t in kept]
        params["tools"] += [function_tool(f) for f in functions.values()]
    optional = {
        "temperature": args.temperature,
        "truncation_strategy": args.truncation.strategy() if args.truncation else None,
        "max_prompt_tokens": args.max_prompt_tokens,
        "max_completion_tokens": args.max_completion_tokens,
        "tool_choice": args.tool_choice.param() if args.tool_choice else None,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    if args.drill == "fail":
        params["model"] = DRILL_MODEL
    elif args.drill == "incomplete":
        params["max_prompt_tokens"] = DRILL_MAX_PROMPT_TOKENS
        params["instructions"] = LONG_INSTRUCTIONS
    elif args.drill == "expire":
        params["metadata"] = {EXPIRES_IN_KEY: str(DRILL_EXPIRES_IN)}
        if not functions:
            params["tools"] = [function_tool(_drill_lookup)]
        params["tool_choice"] = "required"
    return params


def _cancel_hook(client: openai.OpenAI) -> Callable[[Run], None]:
    """The cancel drill: cancel the run as soon as its first words arrive."""

    def cancel(run: Run) -> None:
        with contextlib.suppress(openai.BadRequestError):  # it finished first
            client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)

    return cancel


def _expire_drill(client: openai.OpenAI, live: RunPanel, run: Run) -> Run:
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
    return wait_while(client, live, run, "requires_action", DRILL_EXPIRES_IN + 4)


def _drill_lookup(question: str) -> str:
    """Look up the answer to a question in the company wiki.

    Args:
        question: the question to look up.
    """
    return "The wiki is down."
