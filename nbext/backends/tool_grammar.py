"""Tool calls a small model cannot get wrong: grammars, and where they take over.

Under ``tool_choice: "auto"`` the model decides whether to call a tool, and the
embedded 0.5B model writes its calls in many shapes, some malformed (see
:mod:`nbext.backends.tool_calls`). Constraining the whole answer with a grammar
"free text or a well-formed call" would slow every token of every answer
(llama.cpp checks the grammar against the whole vocabulary at each step) and
cannot stop a call written bare after a sentence. So the embedded backend lets
the model write freely and watches: the moment the output begins a call (a
``<tool_call>`` tag, or JSON naming a listed tool), it stops, rewinds to where
the call began, and has the call written again from Qwen's own opening,
``<tool_call>\\n``, under a grammar that admits only
``{"name": <a listed tool>, "arguments": <valid for its schema>}``. Text costs
nothing extra; a call is valid by construction. The same grammar serves
``tool_choice: "required"`` and a named tool, where the call starts at once.

Sometimes the call the model begins must not be made: it names a tool that is
not offered (``{"name": "cat joke", ...}``), tools are not allowed
(``tool_choice: "none"``, or a run's last round), or it repeats a call whose
result the conversation already holds. Cutting the answer there would leave it
empty or unfinished, so the backend rewinds to where the call began and
samples again under :class:`NoCallOpening`: the first visible token may not
open a call (``{``, ``[``, a backtick fence, ``<``), and after it the model
writes freely.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt
from llama_cpp import LLAMA_TOKEN_ATTR_CONTROL, Llama
from llama_cpp.llama_grammar import LlamaGrammar

from nbext.backends.tool_calls import TAG_OPEN

CALL_OPENING = f"{TAG_OPEN}\n"
"""What Qwen's template puts before a call's JSON: the grammar takes over after it."""

AUTO_TOOLS_NOTE = (
    "Decide for each request whether one of your tools would help. If it would, "
    "reply with only the <tool_call> block; if not, answer directly. When you get "
    "a <tool_response>, answer the user in plain words from it; if it shows an "
    "error, fix the cause and call the tool again."
)
"""Said after the instructions when tools are offered under ``auto``: a 0.5B model
reads the template's tool section alone as "always call" or "never call"."""
QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
"""The system prompt Qwen's template uses when a request has none."""


def call_schema(tools: Sequence[Any]) -> dict[str, Any]:
    """JSON schema of one ``{"name", "arguments"}`` object calling one of ``tools``."""
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool["function"]["name"]},
                "arguments": tool["function"].get("parameters")
                or {"type": "object", "properties": {}},
            },
            "required": ["name", "arguments"],
        }
        for tool in tools
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


def call_grammar(tools: Sequence[Any]) -> LlamaGrammar:
    """The grammar of one call to one of ``tools`` (converted once per tool set).

    Keys keep their order: the grammar writes properties in the schema's order, and
    sorted keys put ``"arguments"`` before ``"name"``, an order the model never saw
    (it then closed the call inside the code string: ``fibonacci(n-2)}}, {``)."""
    return _grammar(json.dumps(call_schema(tools)))


@functools.lru_cache(maxsize=64)
def _grammar(schema: str) -> LlamaGrammar:
    return LlamaGrammar.from_json_schema(schema, verbose=False)


def tools_named(tools: Sequence[Any], name: str | None) -> list[Any]:
    """The tools a call may still choose: the one it named already, else all."""
    named = [tool for tool in tools if tool["function"]["name"] == name]
    return named or list(tools)


def call_prefix(text_before: str) -> str:
    """What the answer holds when the grammar takes over: the model's words before
    its call, then Qwen's call opening on a line of its own."""
    if text_before and not text_before.endswith("\n"):
        text_before += "\n"
    return text_before + CALL_OPENING


def with_tools_note(messages: list[Any]) -> list[Any]:
    """``messages`` with :data:`AUTO_TOOLS_NOTE` after the system instructions."""
    if messages and messages[0].get("role") == "system":
        instructions = messages[0].get("content") or ""
        if not isinstance(instructions, str):  # content parts
            instructions = "".join(part.get("text", "") for part in instructions)
        system = {**messages[0], "content": f"{instructions}\n\n{AUTO_TOOLS_NOTE}".lstrip()}
        return [system, *messages[1:]]
    return [{"role": "system", "content": f"{QWEN_DEFAULT_SYSTEM}\n\n{AUTO_TOOLS_NOTE}"}, *messages]


CALL_OPENERS = ("{", "[", "`", "<")
"""First characters of every call shape the model writes (JSON, a fence, a tag)."""
_BYTE_LEVEL_WHITESPACE = "\u0120\u010a\u0109\u010d "
"""Space, newline, tab and carriage return as GPT-2 byte-level BPE spells them in
token texts (Qwen's vocabulary): a token such as " {" or "\\n```" opens a call too."""


@functools.cache
def _opening_tokens(llm: Llama) -> tuple[npt.NDArray[np.intc], npt.NDArray[np.intc]]:
    """Tokens whose text opens a call after optional whitespace, and control tokens
    (the end of the answer among them). Read from the vocabulary once per model."""
    vocabulary = llm._model  # llama-cpp-python has no public API for token attributes
    openers: list[int] = []
    controls: list[int] = []
    for token in range(llm.n_vocab()):
        if vocabulary.token_get_attr(token) & LLAMA_TOKEN_ATTR_CONTROL:
            controls.append(token)
            continue
        try:
            text = vocabulary.token_get_text(token)
        except UnicodeDecodeError:
            continue
        if text.lstrip(_BYTE_LEVEL_WHITESPACE)[:1] in CALL_OPENERS:
            openers.append(token)
    return np.array(openers, dtype=np.intc), np.array(controls, dtype=np.intc)


class Opening(Enum):
    """What an answer's next attempt may open with, before its first visible character."""

    FREE = "free"
    """Words or a call."""
    WORDS = "words"
    """Words only: every token opening a call is barred (:class:`NoCallOpening`)."""
    WORDS_OR_CALL_TAG = "words or call tag"
    """Words, or Qwen's ``<tool_call>`` token: the one way to open a call left open."""


class NoCallOpening:
    """llama.cpp logits processor: no call may open before the first visible character.

    ``prompt_length``: tokens before the answer's continuation. While what was
    sampled since is only whitespace, tokens opening a call are barred, and so is
    ending the answer if it has no text yet (``answer_blank``): an empty answer
    is what this is here to prevent. After a visible token it changes nothing.
    ``allow_call_tag`` leaves Qwen's ``<tool_call>`` token open (a single control
    token), so that a proper call can still be made where a stray shape was barred.
    """

    def __init__(
        self, llm: Llama, prompt_length: int, *, answer_blank: bool, allow_call_tag: bool = False
    ) -> None:
        self._llm = llm
        self._prompt_length = prompt_length
        openers, controls = _opening_tokens(llm)
        if allow_call_tag:
            tag = llm.tokenize(TAG_OPEN.encode(), add_bos=False, special=True)
            openers = openers[~np.isin(openers, tag)]
            controls = controls[~np.isin(controls, tag)]
        self._barred = np.concatenate([openers, controls]) if answer_blank else openers
        self._visible = False

    def __call__(
        self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
    ) -> npt.NDArray[np.single]:
        if not self._visible:
            sampled = input_ids[self._prompt_length :].tolist()
            self._visible = bool(sampled) and bool(self._llm.detokenize(sampled).strip())
        if not self._visible:
            scores[self._barred] = -np.inf
        return scores
