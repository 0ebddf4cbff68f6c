"""Counting a chat prompt's tokens the way a GGUF model's own chat template renders it.

The embedded backend counts with the model it has loaded; a remote backend
serving a catalogue model (``llama_cpp.server`` on the same GGUF, say) counts
with a vocabulary-only load of that file: the tokenizer and the chat template
without the weights, which takes a fraction of a second and a few MB.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from nbext.backends.tool_calls import arguments_as_objects

_EMPTY_TURN = {"role": "user", "content": ""}
_EMPTY_TURN_TEXT = "<|im_start|>user\n<|im_end|>\n"


def chat_formatter(llm: Llama) -> Jinja2ChatFormatter:
    """The GGUF's own chat template (``tokenizer.chat_template``), as llama.cpp reads it."""
    return Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"],
        eos_token=llm._model.token_get_text(llm.token_eos()),
        bos_token=llm._model.token_get_text(llm.token_bos()),
    )


@dataclass(frozen=True)
class ChatTokenizer:
    """A model's tokenizer and chat template: what a prompt renders to, and its tokens."""

    llm: Llama
    formatter: Jinja2ChatFormatter

    def render(self, messages: Sequence[Any], tools: Sequence[Any], tool_choice: Any) -> str:
        rendered = self.formatter(
            messages=arguments_as_objects(messages),
            tools=list(tools) or None,
            tool_choice=tool_choice if tools else None,
        )
        return rendered.prompt

    def tokenize(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def count(self, messages: Sequence[Any], tools: Sequence[Any] | None = None) -> int:
        """Prompt tokens of ``messages`` (and ``tools``) as the template renders them."""
        if not messages:
            # Qwen's template reads messages[0]: measure with an empty user turn,
            # then take that turn's own tokens off.
            with_turn = self.render([_EMPTY_TURN], list(tools or []), None)
            return len(self.tokenize(with_turn)) - len(self.tokenize(_EMPTY_TURN_TEXT))
        return len(self.tokenize(self.render(list(messages), list(tools or []), None)))


@functools.cache
def vocabulary_tokenizer(gguf: Path) -> ChatTokenizer:
    """``gguf``'s tokenizer and chat template without its weights (``vocab_only``)."""
    llm = Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    return ChatTokenizer(llm, chat_formatter(llm))
