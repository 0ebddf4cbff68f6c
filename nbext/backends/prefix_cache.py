"""Saved KV caches of earlier prompts, so a prompt seen before is not evaluated again.

llama.cpp holds one KV cache per context, and a request reuses it only as far
as its prompt shares whole ``n_batch`` batches with the previous one (see
:mod:`nbext.backends.embedded`). A notebook's requests alternate: a run's
forced call and its answer, a chat and an assistant, the same question asked
two ways. Each has a different system prompt and tools section (the tools note
is said only under ``auto``; ``none`` drops the tools), so every request
evaluated its whole prompt: on the 1.5B that was two thirds of tutorial 05's
time.

This cache keeps the KV entries of the last few prompts (their whole batches
only, through llama.cpp's sequence state API) and puts back the one sharing
the most whole batches with a new prompt. What is left is then evaluated in
exactly the batches of a fresh evaluation, after exactly the same KV entries,
so the logits are a fresh run's bit for bit (``tests/test_embedded_backend.py``
checks it), as with the live cache.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Sequence

import llama_cpp
import numpy as np
import numpy.typing as npt
from llama_cpp import Llama

MAX_ENTRIES = 16
"""Saved states kept at most, whatever their size (the search for the best one
compares each with the new prompt)."""


class PrefixCache:
    """A least-recently-used store of KV states keyed by the tokens they hold."""

    def __init__(self, *, max_bytes: int = 0, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[tuple[int, ...], bytes] = OrderedDict()
        """KV states keyed by the prompt tokens they hold (whole batches only)."""
        self.max_bytes = max_bytes
        """What the saved states may take together (0: nothing is saved). A token's
        KV entries take 12 KiB on the 0.5B and 28 KiB on the 1.5B (f16)."""
        self._max_entries = max_entries
        self.restored_tokens = 0
        """Prompt tokens put back from saved states so far (not evaluated again)."""

    @property
    def size(self) -> int:
        return sum(len(state) for state in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def save(self, llm: Llama, length: int) -> None:
        """Keep the first ``length`` KV entries of ``llm`` (a multiple of its batch
        size); the entries after them are dropped from the context."""
        if length < llm.n_batch or self.max_bytes <= 0:
            return
        tokens = tuple(llm.input_ids[:length].tolist())
        if tokens in self._entries:
            self._entries.move_to_end(tokens)
            return
        memory = llama_cpp.llama_get_memory(llm.ctx)
        llama_cpp.llama_memory_seq_rm(memory, 0, length, -1)
        llm.n_tokens = min(llm.n_tokens, length)
        size = llama_cpp.llama_state_seq_get_size(llm.ctx, 0)
        if size > self.max_bytes:
            return
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(llm.ctx, buffer, size, 0)
        self._entries[tokens] = ctypes.string_at(buffer, written)
        while len(self._entries) > self._max_entries or self.size > self.max_bytes:
            self._entries.popitem(last=False)

    def best(self, prompt: list[int], n_batch: int) -> tuple[int, tuple[int, ...] | None]:
        """How many whole batches' worth of ``prompt`` a saved state holds at most,
        short of the prompt's last token, and that state's key."""
        limit = len(prompt) - 1
        best_length, best_key = 0, None
        for key in self._entries:
            shared = shared_length(key, prompt, min(len(key), limit))
            length = shared // n_batch * n_batch
            if length > best_length:
                best_length, best_key = length, key
        return best_length, best_key

    def restore(self, llm: Llama, key: tuple[int, ...], length: int) -> None:
        """Replace ``llm``'s KV cache by the saved state ``key``, cut to ``length``."""
        state = self._entries[key]
        self._entries.move_to_end(key)
        memory = llama_cpp.llama_get_memory(llm.ctx)
        llama_cpp.llama_memory_clear(memory, True)
        buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if not llama_cpp.llama_state_seq_set_data(llm.ctx, buffer, len(state), 0):
            llm.reset()  # nothing put back: the prompt is evaluated whole
            llama_cpp.llama_memory_clear(memory, True)
            del self._entries[key]
            return
        llama_cpp.llama_memory_seq_rm(memory, 0, length, -1)
        ids: npt.NDArray[np.intc] = np.asarray(key[:length], dtype=llm.input_ids.dtype)
        llm.input_ids[:length] = ids
        llm.n_tokens = length
        self.restored_tokens += length


def shared_length(old_tokens: Sequence[int], new_tokens: Sequence[int], limit: int) -> int:
    """How many leading tokens, up to ``limit``, the two sequences have in common."""
    shared = 0
    for old, new in zip(old_tokens[:limit], new_tokens[:limit], strict=True):
        if old != new:
            break
        shared += 1
    return shared
