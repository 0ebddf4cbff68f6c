"""Turn a local model's written-out tool calls into OpenAI ``tool_calls``.

Qwen's chat template asks the model to answer a tool call as
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``. A small model
writes that, and also: the same JSON bare (as its whole answer or after a
sentence), in a fenced block, as a list, with ``"parameters"`` for
``"arguments"``, with the arguments as a JSON string or beside the name, or a
tag left unclosed. OpenAI clients expect none of these: they expect structured
``tool_calls``. :class:`ToolCallExtractor` reads the output as it streams, lets
ordinary text through at once, and holds back only what may be a tool call
until it knows. ``tests/test_tool_calls.py`` lists the shapes met in real
outputs of the embedded model.

Two more shapes count as calls. JSON shaped like a call but naming a tool
that is not offered (``{"name": "cat joke", "arguments": ...}``) is a call
start too, marked :attr:`CallStart.unlisted`: it is never shown, and the
embedded backend has the model write something else there. Calls come in
other tags than Qwen's ``<tool_call>``: the template's ``<tools>`` (around the
tool list) and ``<tool_response>`` (around a result). The 1.5B model wraps its
calls in ``<tool_response>`` at temperature 0 (tool eval, every file_search
question), so a tag is a call start whichever of the three it is; a tag around
anything but a call is never shown. And when the
extractor is given a ``code_tool`` (``code_interpreter`` is offered and may be
called), a fenced ```` ```python ```` block is a call to it with the block's
code: after failed code the small model writes its corrected code that way, as
prose, instead of calling the tool again. Text before the block stays visible.

The embedded backend also uses the extractor's :attr:`ToolCallExtractor.started`
to notice a call the moment it begins, and has the rest of it written under a
grammar (see :mod:`nbext.backends.tool_grammar`).
"""

from __future__ import annotations

import ast
import json
import uuid
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

TAG_OPEN, TAG_CLOSE = "<tool_call>", "</tool_call>"
RESPONSE_OPEN, RESPONSE_CLOSE = "<tool_response>", "</tool_response>"
CALL_TAGS = {TAG_OPEN: TAG_CLOSE, "<tools>": "</tools>", RESPONSE_OPEN: RESPONSE_CLOSE}
"""Tags a call is written in: Qwen's own; the template's wrapping of the tool list,
which the 1.5B model wrote before a call (tool eval, ``ci-hex-product``); and of a
tool's result, which it writes around its calls at temperature 0."""
_FENCE = "```"
_FENCE_LANGUAGES = ("json", "tool_call", "")
_CODE_FENCE_LANGUAGES = ("python", "py", "python3")
CODE_TOOL = "code_interpreter"
"""The function standing for the built-in code tool (``nbext.tools.registry``), the
one a fenced python block calls."""
READ_ONLY_TOOLS = frozenset({"file_search"})
"""Functions whose call does nothing beyond returning its result (the built-in
search): made even when the model opened it as if writing a result."""
_NAME_KEYS = ("name", "function", "tool", "tool_name")
_ARGUMENT_KEYS = ("arguments", "parameters", "args", "input")
_WHITESPACE = " \t\r\n"
_DECIDE_WITHIN = 120
"""Characters after a ``{`` by which it is known whether a call begins there."""


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class ParsedCall:
    name: str
    arguments: str
    """JSON text, as OpenAI sends it."""
    id: str = field(default_factory=new_call_id)


@dataclass(frozen=True)
class CallStart:
    """Where in the output a tool call begins, and the tool it names if it says yet."""

    offset: int
    name: str | None
    unlisted: bool = False
    """The call names a tool that is not offered: there is no call to make."""
    code: bool = False
    """A fenced ```` ```python ```` block, a call to the code tool once it closes."""
    result_tag: bool = False
    """Opened with Qwen's result tag, ``<tool_response>``, as if writing a result."""


class _Block(Enum):
    TAG = "tag"  # <tool_call> ... </tool_call>
    FENCE = "fence"  # ```json {...} ```
    CODE = "code"  # ```python ... ``` when a code tool may be called
    BARE = "bare"  # {...} or [{...}] in the text


class _Verdict(Enum):
    """Does the text at a ``{``, ``[`` or fence begin a call?"""

    NO = "no"
    MAYBE = "maybe"
    LISTED = "listed"  # a call to an offered tool
    UNLISTED = "unlisted"  # shaped like a call, to a tool that is not offered
    CODE = "code"  # a python block for the code tool


def single_string_parameters(tools: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Tool name -> its parameter, for tools taking exactly one string (``code``, ``query``).

    A model that writes such a tool's argument bare (code rather than JSON)
    still made a call whose meaning is clear.
    """
    found: dict[str, str] = {}
    for tool in tools:
        function = tool.get("function") or {}
        properties = (function.get("parameters") or {}).get("properties") or {}
        if len(properties) == 1:
            (parameter, schema), *_ = properties.items()
            if isinstance(schema, dict) and schema.get("type") == "string":
                found[function["name"]] = parameter
    return found


def parse_call_json(
    text: str, tool_names: Iterable[str], bare_parameters: Mapping[str, str] | None = None
) -> list[ParsedCall] | None:
    """Read call objects (one or a list); ``None`` if the text is not calls to listed tools."""
    value = _loads(text)
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    names = set(tool_names)
    calls = [_as_call(item, names, bare_parameters or {}) for item in items]
    if not calls or any(call is None for call in calls):
        return None
    return [call for call in calls if call is not None]


def _loads(text: str) -> Any:
    """JSON, or what a model meant by it: trailing text cut, brackets closed, Python quotes."""
    text = text.strip()
    if not text:
        return None
    # strict=False: models put raw newlines in a code string (JSON wants "\\n").
    with suppress(json.JSONDecodeError):
        return json.loads(text, strict=False)
    with suppress(json.JSONDecodeError):
        value, _ = json.JSONDecoder(strict=False).raw_decode(text)
        return value
    closed = _closed(text)
    if closed != text:
        with suppress(json.JSONDecodeError):
            return json.loads(closed, strict=False)
    with suppress(ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        value = ast.literal_eval(closed)
        json.dumps(value)  # Python literals JSON has no word for (sets, bytes) are no call
        return value
    return None


def _as_call(item: Any, names: set[str], bare_parameters: Mapping[str, str]) -> ParsedCall | None:
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("function"), dict):  # OpenAI's own shape, {"type", "function"}
        item = item["function"]
    name = next((item[key] for key in _NAME_KEYS if isinstance(item.get(key), str)), None)
    if name is None and len(item) == 1:  # {"code": "..."}: the arguments alone
        name = _owner(next(iter(item)), names, bare_parameters)
        item = {"name": name, "arguments": item}
    if name not in names:
        return None
    assert name is not None
    key = next((key for key in _ARGUMENT_KEYS if key in item), None)
    if key is not None:
        arguments = item[key]
    else:  # the arguments written beside the name
        arguments = {k: v for k, v in item.items() if k not in (*_NAME_KEYS, "type", "id")}
    if isinstance(arguments, str):
        parsed = _loads(arguments)
        if isinstance(parsed, dict):
            arguments = parsed
        elif name in bare_parameters:
            arguments = {bare_parameters[name]: arguments}
        else:
            return ParsedCall(name=name, arguments=arguments)
    if arguments is None:
        arguments = {}
    return ParsedCall(name=name, arguments=json.dumps(arguments, ensure_ascii=False))


def _owner(parameter: str, names: set[str], bare_parameters: Mapping[str, str]) -> str | None:
    """The one listed tool whose single string parameter is called ``parameter``."""
    owners = [n for n, p in bare_parameters.items() if p == parameter and n in names]
    return owners[0] if len(owners) == 1 else None


def _scan(text: str) -> tuple[int | None, list[str]]:
    """For ``text`` starting with ``{`` or ``[``: the end of that JSON value (or ``None`` if
    it is not over yet) and the brackets still open at the end of ``text``."""
    closing = {"{": "}", "[": "]"}
    stack: list[str] = []
    quote: str | None = None
    escaped = False
    for index, char in enumerate(text):
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in closing:
            stack.append(closing[char])
        elif char in "}]":
            if not stack or stack.pop() != char:
                return index + 1, []  # unbalanced: the value ends here, unreadable
            if not stack:
                return index + 1, []
    if quote is not None:
        stack.append(quote)
    return None, stack


def _closed(text: str) -> str:
    """``text`` with the strings and brackets it left open closed (a call cut short)."""
    end, still_open = _scan(text)
    if end is not None:
        return text
    return text + "".join(reversed(still_open))


def _squeezed(text: str) -> str:
    return "".join(text[:_DECIDE_WITHIN].split()).replace("'", '"')


def _call_shaped(squeezed: str) -> _Verdict:
    """Does ``squeezed`` begin like ``{"name": "<any name>", "arguments": ...}``?

    Both keys are required, so JSON that merely has a ``"name"`` (a person, a
    record the user asked for) is not mistaken for a call.
    """
    rest = squeezed.removeprefix("[")
    for options in (("{",), tuple(f'"{key}":"' for key in _NAME_KEYS)):
        rest, verdict = _consume(rest, options)
        if verdict is not None:
            return verdict
    end = _string_end(rest)
    if end is None:
        return _Verdict.MAYBE
    rest = rest[end + 1 :]
    for options in ((",",), tuple(f'"{key}":' for key in _ARGUMENT_KEYS)):
        rest, verdict = _consume(rest, options)
        if verdict is not None:
            return verdict
    return _Verdict.UNLISTED


def _consume(text: str, options: tuple[str, ...]) -> tuple[str, _Verdict | None]:
    """``text`` after the option it starts with (verdict ``None``), else ``MAYBE`` if
    it may still become one (it is cut short) or ``NO``."""
    for option in options:
        if text.startswith(option):
            return text[len(option) :], None
    if any(option.startswith(text) for option in options):
        return "", _Verdict.MAYBE
    return "", _Verdict.NO


def _string_end(text: str) -> int | None:
    """Index of the quote closing the JSON string whose body ``text`` starts with."""
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return index
    return None


def _call_prefixes(name: str, bare_parameter: str | None) -> list[str]:
    """How a call to ``name`` starts, whitespace removed (``bare_parameter``: the
    parameter a call may begin with, the arguments written alone)."""
    quoted = json.dumps(name)
    starts = [f'{{"{key}":{quoted}' for key in _NAME_KEYS]
    if bare_parameter is not None:
        starts.append(f"{{{json.dumps(bare_parameter)}:")
    starts += [
        f'{{"function":{{"name":{quoted}',
        f'{{"type":"function","function":{{"name":{quoted}',
    ]
    return starts + [f"[{start}" for start in starts]


class ToolCallExtractor:
    """Split streamed model output into user-visible text and tool calls.

    Text after the first call is not shown: it can only be the model
    imagining the tool's answer, which the run is about to get for real.
    """

    def __init__(
        self,
        tool_names: Iterable[str],
        bare_parameters: Mapping[str, str] | None = None,
        *,
        code_tool: str | None = None,
    ) -> None:
        """``code_tool``: a listed tool taking one string of Python (``code_interpreter``);
        a fenced ```` ```python ```` block is then a call to it."""
        self._names = list(tool_names)
        self._bare = dict(bare_parameters or {})
        self._code_tool = code_tool if code_tool in self._bare else None
        self._prefixes: dict[str, list[str]] = {}
        for name in self._names:
            parameter = self._bare.get(name)
            if parameter and _owner(parameter, set(self._names), self._bare) != name:
                parameter = None  # two tools take "code": the arguments alone say nothing
            self._prefixes[name] = _call_prefixes(name, parameter)
        self._pending = ""
        self._offset = 0  # of _pending[0] in the whole output
        self._open: _Block | None = None
        self._tag = TAG_OPEN  # the tag of the open _Block.TAG (see CALL_TAGS)
        self._verdict = _Verdict.NO  # of the block that opened last
        self.calls: list[ParsedCall] = []
        self.started: CallStart | None = None
        """The first call's start, as soon as it is certain a call begins there."""

    def feed(self, text: str) -> str:
        """Take the next piece of output; return the text that is safe to show."""
        self._pending += text
        shown: list[str] = []
        while True:
            if self._open is not None:
                if not self._close_block():
                    break
                continue
            block, cut = self._find_start()
            released = self._pending[:cut]
            if not self.calls:
                shown.append(released)
            self._advance(cut)
            if block is None:
                break
            self._open = block
            if self.started is None:
                self.started = CallStart(
                    self._offset,
                    self._code_tool if block is _Block.CODE else self._named(),
                    unlisted=self._verdict is _Verdict.UNLISTED,
                    code=block is _Block.CODE,
                    result_tag=block is _Block.TAG and self._tag == RESPONSE_OPEN,
                )
        return "".join(shown)

    def finish(self) -> str:
        """End of output: read an unfinished call if it is one; return leftover text."""
        leftover = self._pending
        self._advance(len(leftover))
        if self._open is None:
            return "" if self.calls else leftover
        block, self._open = self._open, None
        # What began as a call never reaches the user as text, read or not.
        self.calls.extend(self._read(block, leftover) or [])
        return ""

    # -- finding where a call starts --------------------------------------------

    def _find_start(self) -> tuple[_Block | None, int]:
        """The first call start in the buffer: ``(block, cut)``, where ``cut`` is how
        much of the buffer is settled text. ``block`` is ``None`` when no call starts
        yet; the buffer from ``cut`` on may still begin one."""
        text = self._pending
        index = 0
        while index < len(text):
            char = text[index]
            if char == "<":
                rest = text[index:]
                if tag := next((t for t in CALL_TAGS if rest.startswith(t)), None):
                    self._tag = tag
                    return _Block.TAG, index
                if any(tag.startswith(rest) for tag in CALL_TAGS):
                    return None, index
            elif char in "`{[":
                if char == "`":
                    verdict = self._fence_verdict(text[index:])
                else:
                    verdict = self._json_verdict(text[index:])
                if verdict is _Verdict.MAYBE:
                    return None, index
                if verdict is not _Verdict.NO:
                    self._verdict = verdict
                    if verdict is _Verdict.CODE:
                        return _Block.CODE, index
                    return (_Block.FENCE if char == "`" else _Block.BARE), index
            index += 1
        return None, len(text)

    def _json_verdict(self, text: str) -> _Verdict:
        """Does ``text`` (starting with ``{`` or ``[``) begin a call?"""
        squeezed = _squeezed(text)
        maybe = False
        for starts in self._prefixes.values():
            for start in starts:
                if squeezed.startswith(start):
                    return _Verdict.LISTED
                if start.startswith(squeezed):
                    maybe = True
        shaped = _call_shaped(squeezed)
        if shaped is _Verdict.UNLISTED:
            return shaped
        if (maybe or shaped is _Verdict.MAYBE) and len(text) < _DECIDE_WITHIN:
            return _Verdict.MAYBE
        return _Verdict.NO

    def _fence_verdict(self, text: str) -> _Verdict:
        if not text.startswith(_FENCE):
            return _Verdict.MAYBE if _FENCE.startswith(text) else _Verdict.NO
        line_end = text.find("\n")
        if line_end == -1:
            return _Verdict.MAYBE if len(text) < 20 else _Verdict.NO
        language = text[3:line_end].strip().lower()
        if self._code_tool and language in _CODE_FENCE_LANGUAGES:
            return _Verdict.CODE
        if language not in _FENCE_LANGUAGES:
            return _Verdict.NO
        body = text[line_end + 1 :].lstrip(_WHITESPACE)
        if not body:
            return _Verdict.MAYBE
        if body[0] not in "{[":
            return _Verdict.NO
        return self._json_verdict(body)

    def _named(self) -> str | None:
        """The tool a call that just started names, if its text says so already."""
        squeezed = _squeezed(self._pending.removeprefix(self._tag))
        brace = squeezed.find("{", 0, 16)  # past a fence's opening line
        squeezed = squeezed[brace:] if brace != -1 else squeezed
        for name, starts in self._prefixes.items():
            if any(squeezed.startswith(start) for start in starts):
                return name
        return None

    # -- reading a call ----------------------------------------------------------

    def _close_block(self) -> bool:
        """Consume a complete block at the front of the buffer; False while it is open."""
        assert self._open is not None
        end = self._block_end(self._open, self._pending)
        if end is None:
            return False
        block, self._open = self._open, None
        text = self._pending[:end]
        calls = self._read(block, text)
        self._advance(end)
        if calls:
            self.calls.extend(calls)
            self._advance(len(self._pending) - len(self._pending.lstrip(_WHITESPACE)))
        # else: not a call after all (an ordinary JSON block, a tag around junk): the
        # text is dropped, since what began as a call must never reach the user as JSON.
        return True

    def _block_end(self, block: _Block, text: str) -> int | None:
        if block is _Block.TAG:
            close_tag = CALL_TAGS[self._tag]
            body = text[len(self._tag) :].lstrip(_WHITESPACE)
            body_start = len(text) - len(body)
            if body[:1] in ("{", "["):
                end, _ = _scan(body)
                if end is None:
                    return None
                after = body_start + end
                tail = text[after:].lstrip(_WHITESPACE)
                if tail.startswith(close_tag):
                    return len(text) - len(tail) + len(close_tag)
                if not tail or close_tag.startswith(tail):
                    return None  # the closing tag may be on its way
                return after
            if not body:
                return None
            close = text.find(close_tag, body_start)
            return None if close == -1 else close + len(close_tag)
        if block in (_Block.FENCE, _Block.CODE):
            body_start = text.find("\n") + 1
            close = text.find(_FENCE, body_start)
            return None if close == -1 else close + len(_FENCE)
        end, _ = _scan(text)
        return end

    def _read(self, block: _Block, text: str) -> list[ParsedCall] | None:
        if block is _Block.TAG:
            body = text[len(self._tag) :].strip()
            body = body.removesuffix(CALL_TAGS[self._tag]).strip()
        elif block is _Block.CODE:
            assert self._code_tool is not None
            code = text[text.find("\n") + 1 :].removesuffix(_FENCE).strip("\n")
            if not code.strip():
                return None
            arguments = json.dumps({self._bare[self._code_tool]: code}, ensure_ascii=False)
            return [ParsedCall(name=self._code_tool, arguments=arguments)]
        elif block is _Block.FENCE:
            body = text[text.find("\n") + 1 :].removesuffix(_FENCE).strip()
        else:
            body = text
        calls = parse_call_json(body, self._names, self._bare)
        if calls is None and self._bare_allowed(block, body):
            calls = self._bare_argument(body)
        return calls

    def _bare_allowed(self, block: _Block, body: str) -> bool:
        """Whether a tag's body that is not JSON may be a tool's one argument: not in a
        result tag, where words are the model imagining a result."""
        return (
            block is _Block.TAG
            and self._tag != RESPONSE_OPEN
            and bool(body)
            and body[:1] not in ("{", "[")
        )

    def _bare_argument(self, body: str) -> list[ParsedCall] | None:
        """A tag around plain code or words: a call if exactly one listed tool takes them."""
        takers = [name for name in self._names if name in self._bare]
        if len(takers) != 1:
            return None
        name = takers[0]
        arguments = json.dumps({self._bare[name]: body}, ensure_ascii=False)
        return [ParsedCall(name=name, arguments=arguments)]

    def _advance(self, count: int) -> None:
        self._pending = self._pending[count:]
        self._offset += count


def arguments_as_objects(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copy messages with tool-call arguments parsed, as Qwen's template expects.

    OpenAI carries ``arguments`` as a JSON string; the template writes them
    with ``tojson``, which would double-quote a string.
    """
    converted = []
    for message in messages:
        calls = message.get("tool_calls")
        if calls:
            message = {**message, "tool_calls": [_with_object_arguments(c) for c in calls]}
        converted.append(message)
    return converted


def _with_object_arguments(call: dict[str, Any]) -> dict[str, Any]:
    function = dict(call.get("function", {}))
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        with suppress(json.JSONDecodeError):
            function["arguments"] = json.loads(arguments)
    return {**call, "function": function}


def repeats_made_calls(calls: Iterable[ParsedCall], messages: Iterable[Any]) -> bool:
    """Whether every call in ``calls`` (same name, same arguments) was made before in
    ``messages``: a small model, given a call's result, often calls again instead of
    reading it. Backends then have it answer instead."""
    made = {
        (call["function"]["name"], _canonical_arguments(call["function"].get("arguments")))
        for message in messages
        for call in message.get("tool_calls") or []
        if call.get("function")
    }
    return all((call.name, _canonical_arguments(call.arguments)) in made for call in calls)


def _canonical_arguments(arguments: Any) -> str:
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return arguments
    return json.dumps(arguments, sort_keys=True)
