"""``%%chat`` and ``%nbext``: the Chat Completions side of the lesson in a cell.

Every call goes through the official ``openai`` client to the kit's server,
exactly as a learner's own code would. Nothing is remembered between calls
unless the learner asks for it with ``--history NAME``, and then the memory is
a plain list in their namespace that they can print, edit and see resent.
"""

from __future__ import annotations

import contextlib
import importlib
import shlex
import time
from typing import Any

import openai
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display

from nbext import client as kit_client
from nbext import local_server
from nbext.config import Settings
from nbext.errors import APIError
from nbext.protocol import BACKEND_PATH, STATUS_PATH
from nbext.widgets.chat_view import ChatFigures, StreamingMarkdown, markdown_bundle
from nbext.widgets.notice import show_error


def parse_flags(magic: Any, line: str, name: str) -> Any:
    """Parse magic flags with shell quoting; a mistake names the magic and its help.

    ``shlex`` rather than IPython's own splitter, which keeps the quotes of
    ``--system 'You are terse.'`` inside the value.
    """
    try:
        return magic.parser.parse_args(shlex.split(line))
    except (UsageError, ValueError) as error:
        raise UsageError(f"{name}: {error}. Run `{name}?` to see its flags.") from None


def _transport_errors() -> tuple[type[Exception], ...]:
    """What the SDK lets through when the server vanishes in the middle of a
    stream: it wraps failures to connect, not a connection that drops while a
    response is read. openai 3.x speaks through ``httpx2``, older ones ``httpx``."""
    found = []
    for name in ("httpx2", "httpx"):
        with contextlib.suppress(ImportError):
            found.append(importlib.import_module(name).TransportError)
    return tuple(found)


DROPPED_CONNECTION = _transport_errors()


def describe_failure(error: Exception, base_url: str | None) -> str:
    """One sentence for a failed call: what happened and what to do."""
    if isinstance(error, (openai.APIConnectionError, *DROPPED_CONNECTION)):
        settings = Settings.from_env()
        if settings.server_url:
            return (
                f"cannot reach the nbext server at {base_url}: check that `nbext serve` "
                "is running there (NBEXT_SERVER_URL)."
            )
        how = local_server.why_stopped(settings)
        if how:
            return (
                f"the local nbext server stopped ({how}) while answering. Your variables "
                "are intact and threads are kept: run the cell again to start a new server "
                "(if it stops again, run `nbext doctor` in a terminal)."
            )
        return (
            f"lost the connection to the local nbext server at {base_url}; "
            "run the cell again."
        )
    if isinstance(error, openai.APIStatusError):
        body = error.body if isinstance(error.body, dict) else {}
        detail = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
        message = detail.get("message") or error.message
        if isinstance(error, openai.AuthenticationError):
            return f"{message} (the key comes from NBEXT_API_KEY)."
        return str(message)
    if isinstance(error, APIError):
        return error.message
    return f"{type(error).__name__}: {error}"


@magics_class
class NbextMagics(Magics):
    """The kit's magics; one client per kernel, created on first use."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._chat_usage: dict[str, list[dict[str, Any]]] = {}

    @property
    def client(self) -> openai.OpenAI:
        return kit_client.shared_client.get()

    # -- %%chat -----------------------------------------------------------

    @magic_arguments()
    @argument("--model", help="model id (default: the backend's model)")
    @argument("--system", help="a system message sent before the conversation")
    @argument("--temperature", type=float, help="sampling temperature, 0-2")
    @argument("--max-tokens", type=int, help="cap on generated tokens")
    @argument("--seed", type=int, help="sampling seed, for repeatable answers")
    @argument("--json", action="store_true", help="ask for a JSON object")
    @argument("--no-stream", action="store_true", help="wait for the whole answer")
    @argument(
        "--history",
        metavar="NAME",
        help="keep the conversation in a list NAME in your namespace and resend it each call",
    )
    @argument("--out", metavar="VAR", help="store the full ChatCompletion in VAR")
    @argument(
        "--meter",
        action="store_true",
        help="with --history: a usage meter of every call's tokens (the resent history grows)",
    )
    @cell_magic
    def chat(self, line: str, cell: str) -> None:
        """Send the cell as one Chat Completions request and stream the answer.

        ``{name}`` in the cell is replaced by that variable's value.
        """
        args = parse_flags(self.chat, line, "%%chat")
        prompt = self.shell.var_expand(cell.strip(), depth=2)
        if not prompt:
            show_error("the cell is empty: write the message to send below %%chat.")
            return
        history = self._history(args.history)
        if history is None:
            return
        messages = list(history if args.history else [])
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

        try:
            completion, timing = self._send(request, stream=not args.no_stream, as_json=args.json)
        except (openai.OpenAIError, APIError, *DROPPED_CONNECTION) as error:
            show_error(describe_failure(error, kit_client.shared_client.base_url))
            return

        answer = completion.choices[0].message.content or ""
        if args.history:
            resent_from_scratch = not history
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
            self._show_history_usage(args.history, completion.usage, resent_from_scratch)
        if args.out:
            self.shell.user_ns[args.out] = completion

    def _show_history_usage(self, name: str, usage: Any, fresh: bool) -> None:
        """The usage meter of a ``--history`` conversation: the resent prompt grows."""
        from nbext.widgets.usage_meter import UsageMeter

        rows = [] if fresh else self._chat_usage.get(name, [])
        rows = [
            *rows,
            {
                "label": f"call {len(rows) + 1}",
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
            },
        ]
        self._chat_usage[name] = rows
        display(UsageMeter(title=f"history '{name}': every call resends it", rows=rows))

    def _history(self, name: str | None) -> list[dict[str, Any]] | None:
        if not name:
            return []
        if not name.isidentifier():
            show_error(f"--history needs a Python variable name; {name!r} is not one.")
            return None
        value = self.shell.user_ns.setdefault(name, [])
        if not isinstance(value, list):
            show_error(
                f"--history {name}: {name} already holds a {type(value).__name__}, not a list "
                "of messages. Pick another name or `del` it."
            )
            return None
        return value

    def _send(
        self, request: dict[str, Any], *, stream: bool, as_json: bool
    ) -> tuple[Any, tuple[float | None, float | None, float]]:
        """Run the request; return the completion and (first token, last token, total) s."""
        started = time.perf_counter()
        if not stream:
            completion = self.client.chat.completions.create(**request)
            total = time.perf_counter() - started
            text = completion.choices[0].message.content or ""
            display(markdown_bundle(text, as_json=as_json), raw=True)
            return completion, (None, None, total)
        view = StreamingMarkdown(as_json=as_json)
        first_token: float | None = None
        last_token: float | None = None
        with self.client.chat.completions.stream(
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

    # -- %nbext -----------------------------------------------------------

    @magic_arguments()
    @argument("command", nargs="?", default="status", choices=["status", "backend"])
    @argument("target", nargs="?", help="for `backend`: `embedded` or an endpoint URL")
    @argument("--key", help="for `backend URL`: the endpoint's API key")
    @argument("--model", help="for `backend URL`: the model to use there")
    @line_magic
    def nbext(self, line: str) -> None:
        """Show what the kit talks to, or switch its backend.

        ``%nbext`` shows backend, model, server and cache; ``%nbext backend
        embedded`` or ``%nbext backend http://host:11434/v1 --model llama3``
        switches the backend of this kernel's server.
        """
        args = parse_flags(self.nbext, line, "%nbext")
        try:
            if args.command == "backend":
                self._switch_backend(args.target, args.key, args.model)
            self._show_status()
        except (openai.OpenAIError, APIError) as error:
            show_error(describe_failure(error, None))

    def _show_status(self) -> None:
        settings = Settings.from_env()
        facts = self.client.get(STATUS_PATH, cast_to=object)
        assert isinstance(facts, dict)
        if settings.server_url:
            where = f"shared: {settings.server_url}"
        else:
            where = f"{self.client.base_url} (pid {facts.get('pid')}, shared by your kernels)"
        rows = {
            "backend": f"{facts.get('backend')}; model {facts.get('model')}",
            "server": where,
            "cache": str(settings.home),
            "database": settings.db_url,
        }
        if facts.get("threads"):
            rows["threads"] = str(facts["threads"])
        rows["doctor"] = doctor_summary(settings)
        text = "\n".join(f"{k:>9}: {v}" for k, v in rows.items())
        display({"text/plain": text, "text/markdown": _markdown_table(rows)}, raw=True)

    def _switch_backend(self, target: str | None, key: str | None, model: str | None) -> None:
        settings = Settings.from_env()
        if settings.server_url:
            raise APIError(
                f"this kernel uses the shared server at {settings.server_url}; its backend is "
                "chosen where `nbext serve` runs (NBEXT_BACKEND_URL there)."
            )
        if not target:
            raise APIError("say which backend: `%nbext backend embedded` or `%nbext backend URL`.")
        # The backend lives in the server process (shared by this user's kernels).
        self.client.put(
            BACKEND_PATH, body={"target": target, "key": key, "model": model}, cast_to=object
        )


def doctor_summary(settings: Settings) -> str:
    """The last `nbext doctor` verdict, read from its report file (no checks run here)."""
    from nbext.doctor import last_summary

    return last_summary(settings)


def _markdown_table(rows: dict[str, str]) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {k} | `{v}` |" for k, v in rows.items()]
    return "\n".join(lines)
