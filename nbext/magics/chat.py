"""``%%chat``: the Chat Completions side of the lesson in a cell.

Every call goes through the official ``openai`` client to the kit's server,
exactly as a learner's own code would. Nothing is remembered between calls
unless the learner asks for it with ``--history NAME``, and then the memory is
a plain list in their namespace that they can print, edit and see resent.
"""

from __future__ import annotations

import time
from typing import Any

import openai
from IPython.core.interactiveshell import InteractiveShell
from IPython.display import display

from nbext.client import shared_client
from nbext.config import Settings
from nbext.magics.failures import MagicError
from nbext.magics.parsers import ChatArgs, cell_message, is_placeholder
from nbext.widgets.chat_view import ChatFigures, StreamingMarkdown, markdown_bundle
from nbext.widgets.notice import show_note

UsageRows = dict[str, list[dict[str, Any]]]
"""``--history`` name -> one ``{"label", "prompt_tokens", "completion_tokens"}`` per call."""


def chat(shell: InteractiveShell, args: ChatArgs, text: str, meters: UsageRows) -> None:
    """Send the cell's ``text`` (with the history, if any) and show the answer and its figures.

    A cell holding only ``...`` (an exercise's skeleton) sends nothing and says
    so; its ``--history`` list is still made, so a check cell can read it.
    """
    history = _history(shell, args.history)
    if is_placeholder(text):
        show_note("Nothing sent: write your message in place of the `...`, then run the cell.")
        return
    prompt = cell_message("%%chat", text)
    messages = list(history)
    if args.system and not any(m.get("role") == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": args.system})
    messages.append({"role": "user", "content": prompt})

    request: dict[str, Any] = {
        "model": args.model or Settings.from_env().model or "default",
        "messages": messages,
    }
    optional = {
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
        "seed": args.seed,
    }
    request.update({k: v for k, v in optional.items() if v is not None})
    if args.json:
        request["response_format"] = {"type": "json_object"}

    completion, timing = _send(request, stream=args.stream, as_json=args.json)

    answer = completion.choices[0].message.content or ""
    resent_from_scratch = not history
    if args.history:
        history[:] = [*messages, {"role": "assistant", "content": answer}]
    ChatFigures(
        model=completion.model,
        prompt_tokens=completion.usage.prompt_tokens if completion.usage else 0,
        completion_tokens=completion.usage.completion_tokens if completion.usage else 0,
        first_token_s=timing[0],
        last_token_s=timing[1],
        total_s=timing[2],
        messages_sent=len(messages),
        history_name=args.history,
        finish_reason=completion.choices[0].finish_reason,
    ).show()
    if args.history and args.meter and completion.usage:
        _show_history_usage(meters, args.history, completion.usage, resent_from_scratch)
    if args.out:
        shell.user_ns[args.out] = completion


def _history(shell: InteractiveShell, name: str | None) -> list[dict[str, Any]]:
    """The list named by ``--history`` (made empty on first use), or a throwaway one."""
    if not name:
        return []
    value = shell.user_ns.setdefault(name, [])
    if not isinstance(value, list):
        raise MagicError(
            f"--history {name}: {name} already holds a {type(value).__name__}, not a list "
            "of messages. Pick another name or `del` it."
        )
    return value


def _show_history_usage(meters: UsageRows, name: str, usage: Any, fresh: bool) -> None:
    """The usage meter of a ``--history`` conversation: the resent prompt grows."""
    from nbext.widgets.usage_meter import UsageMeter  # ipywidgets: only with --meter

    rows = [] if fresh else meters.get(name, [])
    rows = [
        *rows,
        {
            "label": f"call {len(rows) + 1}",
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        },
    ]
    meters[name] = rows
    display(UsageMeter(title=f"history '{name}': every call resends it", rows=rows))


def _send(
    request: dict[str, Any], *, stream: bool, as_json: bool
) -> tuple[Any, tuple[float | None, float | None, float]]:
    """Run the request; return the completion and (first token, last token, total) s."""
    client = shared_client.get()
    started = time.perf_counter()
    if not stream:
        completion = client.chat.completions.create(**request)
        total = time.perf_counter() - started
        text = completion.choices[0].message.content or ""
        display(markdown_bundle(text, as_json=as_json), raw=True)
        return completion, (None, None, total)
    view = StreamingMarkdown(as_json=as_json)
    first_token: float | None = None
    last_token: float | None = None
    with client.chat.completions.stream(
        **request, stream_options={"include_usage": True}
    ) as events:
        for event in events:
            if event.type == "content.delta" and event.delta:
                last_token = time.perf_counter() - started
                if first_token is None:
                    first_token = last_token
                view.append(event.delta)
        try:
            completion = events.get_final_completion()
        except openai.LengthFinishReasonError as cut_short:
            # The SDK's helper treats a length stop as a parse failure;
            # for plain chat it is an ordinary answer that hit max_tokens.
            completion = cut_short.completion
    view.finish()
    return completion, (first_token, last_token, time.perf_counter() - started)
