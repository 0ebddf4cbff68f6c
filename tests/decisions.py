"""What greedy decoding decides at an answer's first token, and by how much.

At temperature 0 the likeliest first token decides whether the model calls a tool
or answers in words. A decision that wins by more than 1 nat survives the logit
shifts measured between llama.cpp's kernels (at most 0.33, so 0.66 on a margin),
which is what makes a test pinning a greedy decision hold on other CPUs.
"""

from __future__ import annotations

from dataclasses import dataclass

import llama_cpp
import numpy as np
import numpy.typing as npt

from nbext.backends.embedded import EmbeddedBackend
from nbext.backends.tool_calls import TAG_OPEN
from nbext.backends.tool_grammar import _opening_tokens

SAFE_MARGIN = 1.0
"""Nats by which a pinned greedy decision must win (a factor of e)."""


@dataclass(frozen=True)
class FirstToken:
    """The logits of an answer's first token, and which tokens open a call."""

    logits: npt.NDArray[np.float64]
    openers: npt.NDArray[np.bool_]
    controls: npt.NDArray[np.bool_]
    call_tag: int
    """Qwen's ``<tool_call>`` token (a control token)."""

    @property
    def likeliest(self) -> int:
        """The token greedy decoding takes."""
        return int(self.logits.argmax())

    def call_margin(self) -> float:
        """How far the best call opening leads any other token (negative: it trails)."""
        return float(self.logits[self.openers].max() - self.logits[~self.openers].max())

    def words_over_call_tag(self) -> float:
        """Where every call opening but ``<tool_call>`` is barred, and so is ending a
        blank answer (``NoCallOpening(allow_call_tag=True)``): how far the best word
        leads the ``<tool_call>`` token."""
        words = ~self.openers & ~self.controls
        return float(self.logits[words].max() - self.logits[self.call_tag])


def first_token(backend: EmbeddedBackend, request: dict) -> FirstToken:
    """The first-token logits of ``request``'s answer, from the backend's own prompt."""
    model = backend.load()
    with model.lock:
        plan = backend._plan(model, request)  # type: ignore[arg-type]
        model.forget()  # the whole prompt evaluated, as in a fresh process
        model.llm.eval(plan.tokens)
        logits = np.ctypeslib.as_array(
            llama_cpp.llama_get_logits(model.llm.ctx), shape=(model.llm.n_vocab(),)
        ).astype(np.float64)
        (call_tag,) = model.llm.tokenize(TAG_OPEN.encode(), add_bos=False, special=True)
    openers, controls = _opening_tokens(model.llm)
    opening = np.zeros(len(logits), dtype=bool)
    opening[openers] = True
    control = np.zeros(len(logits), dtype=bool)
    control[controls] = True
    return FirstToken(logits, opening, control, call_tag)
