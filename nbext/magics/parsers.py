"""What a magic's line says, read into typed, validated arguments.

Parsing apart from doing: this module turns the line of ``%%chat``,
``%nbext``, ``%%assistant`` and ``%assistant COMMAND`` into a frozen
dataclass and does nothing else (no client, no server, no display), so
``%load_ext nbext`` imports it for free and every rule is tested without a
kernel (``tests/test_magic_parsers.py``). The flag definitions here are also
each magic's help (``%%chat?``).

Two kinds of mistake, reported as the magics always have:

- ``UsageError`` (IPython's): the line cannot be read (an unknown flag, a
  value of the wrong type, a malformed ``--truncation``, an unknown line
  command). The cell fails; the message names the magic and its help.
- :class:`~nbext.magics.failures.MagicError`: the line reads but says
  something the magic cannot do (a tool that does not exist, a history name
  that cannot be a variable, ``%nbext backend`` without a backend, an empty
  cell). One red line; the cell succeeds.

Value ranges (temperature 0-2, token budgets of at least 256) are left to the
server, which owns those limits for every client: the learner reads the
message their own ``openai`` code would get.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

from IPython.core.error import UsageError
from IPython.core.magic_arguments import MagicArgumentParser, argument, magic_arguments

from nbext.magics.failures import MagicError

Drill = Literal["cancel", "expire", "fail", "incomplete"]
DRILLS: tuple[Drill, ...] = get_args(Drill)
FileTool = Literal["code_interpreter", "file_search"]
FILE_TOOLS: tuple[FileTool, ...] = get_args(FileTool)
ChoiceMode = Literal["auto", "required", "none"]
CHOICE_MODES: tuple[ChoiceMode, ...] = get_args(ChoiceMode)
DEFAULT_ASSISTANT = "nbext"

# -- the flags, which are also each magic's help ---------------------------------


@dataclass(frozen=True)
class Grammar:
    """One magic's flags: the parser, and the help text IPython shows for ``%magic?``."""

    parser: MagicArgumentParser
    help: str


def grammar(name: str, description: str, *flags: argument) -> Grammar:
    """Build a parser the way IPython's ``@magic_arguments`` does (same help text),
    on a stand-in function, so the definitions live here and not on the magic's method."""

    def stand_in() -> None: ...

    stand_in.__name__ = name  # the usage line reads ``%name [flags]``
    stand_in.__doc__ = description
    for flag in reversed(flags):  # decorators apply bottom-up; keep the written order
        flag(stand_in)
    magic_arguments()(stand_in)
    return Grammar(stand_in.parser, stand_in.__doc__)  # type: ignore[attr-defined]


Method = TypeVar("Method", bound=Callable[..., Any])


def documented(flags: Grammar) -> Callable[[Method], Method]:
    """Give a magic's method the help of its flags (what ``%%chat?`` prints)."""

    def document(method: Method) -> Method:
        method.__doc__ = flags.help
        return method

    return document


CHAT = grammar(
    "chat",
    """Send the cell as one Chat Completions request and stream the answer.

``{name}`` in the cell is replaced by that variable's value.
""",
    argument("--model", help="model id (default: the backend's model)"),
    argument("--system", help="a system message sent before the conversation"),
    argument("--temperature", type=float, help="sampling temperature, 0-2"),
    argument("--max-tokens", type=int, help="cap on generated tokens"),
    argument("--seed", type=int, help="sampling seed, for repeatable answers"),
    argument("--json", action="store_true", help="ask for a JSON object"),
    argument("--no-stream", action="store_true", help="wait for the whole answer"),
    argument(
        "--history",
        metavar="NAME",
        help="keep the conversation in a list NAME in your namespace and resend it each call",
    ),
    argument("--out", metavar="VAR", help="store the full ChatCompletion in VAR"),
    argument(
        "--meter",
        action="store_true",
        help="with --history: a usage meter of every call's tokens (the resent history grows)",
    ),
)

NBEXT = grammar(
    "nbext",
    """Show what the kit talks to, or switch its backend.

``%nbext`` shows backend, model, server and cache; ``%nbext backend
embedded`` or ``%nbext backend http://host:11434/v1 --model llama3``
switches the backend of this kernel's server.
""",
    argument("command", nargs="?", default="status", choices=["status", "backend"]),
    argument("target", nargs="?", help="for `backend`: `embedded` or an endpoint URL"),
    argument("--key", help="for `backend URL`: the endpoint's API key"),
    argument("--model", help="for `backend URL`: the model to use there"),
)

ASSISTANT = grammar(
    "assistant",
    """Run an assistant on the cell, or manage threads with a line command.

Cell: ``%%assistant [flags]`` sends the cell (``{name}`` expanded) as a user
message and streams a run. Line: ``%assistant threads | show [THREAD] |
steps [RUN] | new | use ID | delete ID | submit OUTPUT...``.
""",
    argument(
        "--assistant",
        metavar="NAME",
        default=DEFAULT_ASSISTANT,
        help="assistant (made on first use)",
    ),
    argument("--instructions", help="the assistant's instructions (updates it if changed)"),
    argument("--model", help="the assistant's model (default: the server's model)"),
    argument("--tools", metavar="LIST", help="server-side tools: code_interpreter,file_search"),
    argument("--files", metavar="PATH", nargs="+", help="upload these files and attach them"),
    argument("--thread", metavar="NAME", help="thread name, a thread id, or `new`"),
    argument("--functions", metavar="LIST", help="Python functions f,g offered as function tools"),
    argument(
        "--tool-choice",
        metavar="CHOICE",
        help="auto, required, none, code_interpreter, file_search or a function name",
    ),
    argument("--manual", action="store_true", help="stop at requires_action; submit by hand"),
    argument("--truncation", metavar="auto|last:N", help="truncation strategy of the run"),
    argument("--max-prompt-tokens", type=int, help="prompt token budget of the run (>= 256)"),
    argument("--max-completion-tokens", type=int, help="completion budget of the run (>= 256)"),
    argument("--temperature", type=float, help="sampling temperature of the run"),
    argument("--drill", choices=DRILLS, help="end this run cancelled/expired/failed/incomplete"),
    argument("--out", metavar="VAR", help="store the final Run in VAR"),
)

# -- reading a line ------------------------------------------------------------------


def split(line: str, magic: str, hint: str = "to see its flags") -> list[str]:
    """The line's words, shell-quoted.

    ``shlex`` rather than IPython's own splitter, which keeps the quotes of
    ``--system 'You are terse.'`` inside the value.
    """
    try:
        return shlex.split(line)
    except ValueError as error:  # an unclosed quote
        raise UsageError(f"{magic}: {error}. Run `{magic}?` {hint}.") from None


def parse_flags(flags: Grammar, line: str, magic: str) -> argparse.Namespace:
    """Read flags; a mistake names the magic and its help."""
    words = split(line, magic)
    try:
        return flags.parser.parse_args(words)
    except UsageError as error:  # IPython's parser raises it instead of exiting
        raise UsageError(f"{magic}: {error}. Run `{magic}?` to see its flags.") from None


def cell_message(magic: str, text: str) -> str:
    """The cell as the message to send (its ``{name}``s already expanded)."""
    if not text:
        raise MagicError(f"the cell is empty: write the message to send below {magic}.")
    return text


def is_placeholder(text: str) -> bool:
    """The cell holds only ``...``: an exercise's skeleton, not a message to send."""
    return text.strip() in ("...", "…")


def names(text: str | None) -> tuple[str, ...]:
    """``f, g`` -> ``("f", "g")``: a comma-separated flag value."""
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


# -- %%chat ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatArgs:
    model: str | None = None
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    json: bool = False
    stream: bool = True
    history: str | None = None
    """A variable in the learner's namespace holding the conversation (a list)."""
    out: str | None = None
    meter: bool = False


def parse_chat(line: str) -> ChatArgs:
    flags = parse_flags(CHAT, line, "%%chat")
    if flags.history is not None and not flags.history.isidentifier():
        raise MagicError(f"--history needs a Python variable name; {flags.history!r} is not one.")
    return ChatArgs(
        model=flags.model,
        system=flags.system,
        temperature=flags.temperature,
        max_tokens=flags.max_tokens,
        seed=flags.seed,
        json=flags.json,
        stream=not flags.no_stream,
        history=flags.history,
        out=flags.out,
        meter=flags.meter,
    )


# -- %nbext ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NbextArgs:
    command: Literal["status", "backend"] = "status"
    target: str | None = None
    """For ``backend``: ``embedded`` or an OpenAI-compatible endpoint URL."""
    key: str | None = None
    model: str | None = None


def parse_nbext(line: str) -> NbextArgs:
    flags = parse_flags(NBEXT, line, "%nbext")
    if flags.command == "backend" and not flags.target:
        raise MagicError("say which backend: `%nbext backend embedded` or `%nbext backend URL`.")
    if flags.command == "status" and flags.target:
        raise UsageError(
            f"%nbext: `status` takes no target ({flags.target!r}); did you mean "
            f"`%nbext backend {flags.target}`? Run `%nbext?` to see its flags."
        )
    return NbextArgs(flags.command, flags.target, flags.key, flags.model)


# -- %%assistant -------------------------------------------------------------------


@dataclass(frozen=True)
class Truncation:
    """``--truncation``: ``auto`` (no count) or ``last:N``."""

    last_messages: int | None = None

    def strategy(self) -> dict[str, Any]:
        """As the run's ``truncation_strategy``."""
        if self.last_messages is None:
            return {"type": "auto"}
        return {"type": "last_messages", "last_messages": self.last_messages}


@dataclass(frozen=True)
class ToolChoice:
    """``--tool-choice``: a mode, a server-side tool, or a function by name."""

    kind: ChoiceMode | FileTool | Literal["function"]
    function: str | None = None

    def param(self) -> str | dict[str, Any]:
        """As the run's ``tool_choice``."""
        if self.kind in CHOICE_MODES:
            return self.kind
        if self.kind == "function":
            return {"type": "function", "function": {"name": self.function}}
        return {"type": self.kind}


@dataclass(frozen=True)
class AssistantArgs:
    assistant: str = DEFAULT_ASSISTANT
    instructions: str | None = None
    model: str | None = None
    tools: tuple[FileTool, ...] | None = None
    """``None`` when ``--tools`` is not given: the assistant keeps the tools it has."""
    files: tuple[str, ...] = ()
    thread: str | None = None
    functions: tuple[str, ...] = ()
    """Names of functions in the learner's namespace (looked up when the cell runs)."""
    tool_choice: ToolChoice | None = None
    manual: bool = False
    truncation: Truncation | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    drill: Drill | None = None
    out: str | None = None


def parse_truncation(text: str) -> Truncation:
    if text == "auto":
        return Truncation()
    if text.startswith("last:") and text[5:].isdigit():
        return Truncation(int(text[5:]))
    raise UsageError(
        f"%%assistant: --truncation takes `auto` or `last:N` (e.g. last:4), not {text!r}. "
        "Run `%%assistant?` to see its flags."
    )


def parse_tool_choice(text: str) -> ToolChoice:
    if text in CHOICE_MODES or text in FILE_TOOLS:
        return ToolChoice(text)  # type: ignore[arg-type]  # narrowed by the test above
    return ToolChoice("function", text)


def parse_tools(text: str) -> tuple[FileTool, ...]:
    tools = names(text)
    unknown = [t for t in tools if t not in FILE_TOOLS]
    if unknown:
        raise MagicError(f"--tools knows {', '.join(FILE_TOOLS)}; not {', '.join(unknown)}.")
    return tools  # type: ignore[return-value]  # every name checked above


def parse_assistant_cell(line: str) -> AssistantArgs:
    flags = parse_flags(ASSISTANT, line, "%%assistant")
    return AssistantArgs(
        assistant=flags.assistant,
        instructions=flags.instructions,
        model=flags.model,
        tools=parse_tools(flags.tools) if flags.tools is not None else None,
        files=tuple(flags.files or ()),
        thread=flags.thread,
        functions=names(flags.functions),
        tool_choice=parse_tool_choice(flags.tool_choice) if flags.tool_choice else None,
        manual=flags.manual,
        truncation=parse_truncation(flags.truncation) if flags.truncation else None,
        max_prompt_tokens=flags.max_prompt_tokens,
        max_completion_tokens=flags.max_completion_tokens,
        temperature=flags.temperature,
        drill=flags.drill,
        out=flags.out,
    )


# -- %assistant COMMAND ------------------------------------------------------------


@dataclass(frozen=True)
class ThreadsArgs:
    """``%assistant threads``: the threads this kernel made."""


@dataclass(frozen=True)
class ShowArgs:
    """``%assistant show [THREAD]``: a thread's messages (default: the current one)."""

    thread: str | None = None


@dataclass(frozen=True)
class StepsArgs:
    """``%assistant steps [RUN]``: a run's views again (default: the last run)."""

    run_id: str | None = None


@dataclass(frozen=True)
class NewArgs:
    """``%assistant new``: a fresh thread becomes the current one."""


@dataclass(frozen=True)
class UseArgs:
    """``%assistant use THREAD``: make a thread (name or id) the current one."""

    thread: str


@dataclass(frozen=True)
class DeleteArgs:
    """``%assistant delete THREAD|ASSISTANT_ID``."""

    target: str


@dataclass(frozen=True)
class SubmitArgs:
    """``%assistant submit OUTPUT...``: one output per waiting function call, in order."""

    outputs: tuple[str, ...]


LineArgs = ThreadsArgs | ShowArgs | StepsArgs | NewArgs | UseArgs | DeleteArgs | SubmitArgs

_LINE_FORMS: dict[str, tuple[str, int, int | None]] = {
    "threads": ("threads", 0, 0),
    "show": ("show [THREAD]", 0, 1),
    "steps": ("steps [RUN]", 0, 1),
    "new": ("new", 0, 0),
    "use": ("use NAME_OR_THREAD_ID", 1, 1),
    "delete": ("delete THREAD_NAME_OR_ID | ASSISTANT_ID", 1, 1),
    "submit": ("submit OUTPUT...", 0, None),
}
"""command -> (usage, fewest words, most words) after the command."""

LINE_COMMANDS = tuple(_LINE_FORMS)


def parse_assistant_line(line: str) -> LineArgs:
    words = split(line, "%assistant", "for help")
    if not words or words[0] not in _LINE_FORMS:
        raise UsageError(
            f"%assistant takes one of: {', '.join(LINE_COMMANDS)}. Run `%assistant?` for help."
        )
    command, rest = words[0], words[1:]
    usage, fewest, most = _LINE_FORMS[command]
    if len(rest) < fewest or (most is not None and len(rest) > most):
        raise UsageError(
            f"%assistant {command}: the form is `%assistant {usage}`; got "
            f"`%assistant {line.strip()}`. Run `%assistant?` for help."
        )
    first = rest[0] if rest else None
    if command == "threads":
        return ThreadsArgs()
    if command == "show":
        return ShowArgs(first)
    if command == "steps":
        return StepsArgs(first)
    if command == "new":
        return NewArgs()
    if command == "use":
        return UseArgs(rest[0])
    if command == "delete":
        return DeleteArgs(rest[0])
    return SubmitArgs(tuple(rest))
