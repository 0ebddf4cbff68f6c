"""The default backend: a Qwen2.5-Coder GGUF run in-process by llama.cpp.

Which one is chosen by ``NBEXT_MODEL`` or ``nbext model --use`` from the
catalogue in :mod:`nbext.backends.models` (Qwen2.5-Coder-0.5B-Instruct unless
chosen otherwise).

No key and no network. The GGUF's own chat template renders the prompt (tool
definitions included) and the output is read back into OpenAI's shapes by
:mod:`nbext.backends.tool_calls`. Tool calls and JSON output use llama.cpp's
grammar-constrained decoding, so they are valid by construction rather than by
the small model's good will: a forced call from its first token, a call the
model chose under ``auto`` from the moment it begins (see
:mod:`nbext.backends.tool_grammar`). A call that may not be made (a tool not
offered, tools not allowed, a call whose result the conversation already
holds) is rewound and the answer sampled again from where it began, with no
call opening before its first visible character. An answer to tool results
that show no error has that bar from its start: the small model would otherwise
echo its call instead of reading them. A fenced python block is a call to
``code_interpreter`` when that tool may be called. A call the model opens with
Qwen's *result* tag (``<tool_response>``, the 1.5B's habit) is made only to a
tool without effects (``READ_ONLY_TOOLS``, the search); to any other it is
rewound once, with words or the ``<tool_call>`` token left to open with.

Repeatability. The same request with the same ``seed`` (or at temperature 0)
gives the same text, whatever ran before it. Two things stood in the way in
llama-cpp-python 0.3.36, and both are handled here:

- ``Llama.generate`` reuses the KV cache of the longest prefix it shares with
  the previous request and evaluates only the rest. The rest then goes through
  llama.cpp in other batch shapes than a fresh evaluation would use, and the
  CPU kernels do not give bit-identical results across batch shapes (ggml's
  repacked Q4_K matmul takes rows in groups of four and the leftover rows by
  another kernel: an identical prompt whose last token is re-evaluated alone
  got logits up to 0.33 apart from a fresh run). Near-ties then flip and a
  sampled answer wanders off. So a request reuses the cache only up to a
  multiple of ``n_batch`` that earlier prompts evaluated as whole batches
  (see :func:`_reusable_prefix`): what is left is evaluated in exactly the
  batches of a fresh evaluation, and the logits match a fresh run bit for bit.
  The whole batches of earlier prompts are kept too, in a prefix cache
  (:mod:`nbext.backends.prefix_cache`), and put back by the same rule.
- ``Llama.create_completion`` with ``seed=None`` derives the next seed from the
  previous one (``random.Random(previous_seed)``), so "unseeded" answers are the
  same sequence in every new process, and a seed that wraps to
  ``0xFFFFFFFF`` (``-1`` does) means "random" to llama.cpp. Every request here
  gets an explicit seed: its own, folded into llama.cpp's range, or a fresh
  random one (:func:`_sampler_seed`).
"""

from __future__ import annotations

import os

# llama.cpp's CPU threads meet at an OpenMP barrier after every graph node,
# hundreds of times per token. libgomp's default is to spin ~300,000 times there
# before sleeping: fine on an idle machine, but when another process wants a core
# (a kernel computing, a second server) the spinning thread holds the core its
# partner needs. Measured on a 2-core VM, 2 threads, 96 tokens, greedy: idle
# 23.4 tokens/s by default, 21.8 with 1,000 spins; beside one busy process 4.7
# vs 10.7 (one thread: 14.6). OMP_WAIT_POLICY=passive costs too much idle (13.6).
# libgomp reads this when llama_cpp loads it, hence before the imports below;
# a value already in the environment wins.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

import functools
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from llama_cpp import Llama, llama_vocab_is_eog
from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar
from openai.types import CompletionUsage, Model
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionTokenLogprob,
)
from openai.types.chat.chat_completion import Choice, ChoiceLogprobs
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import (
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from openai.types.chat.chat_completion_chunk import ChoiceLogprobs as ChunkLogprobs
from openai.types.chat.chat_completion_message_function_tool_call import (
    ChatCompletionMessageFunctionToolCall,
    Function,
)
from openai.types.chat.chat_completion_token_logprob import TopLogprob

from nbext.backends.base import ChatRequest, TokenCounting
from nbext.backends.chat_tokens import ChatTokenizer, chat_formatter
from nbext.backends.model_file import ensure_model_file
from nbext.backends.models import CATALOGUE, EmbeddedModel, find_model
from nbext.backends.prefix_cache import PrefixCache, shared_length
from nbext.backends.tool_calls import (
    CODE_TOOL,
    READ_ONLY_TOOLS,
    ParsedCall,
    ToolCallExtractor,
    repeats_made_calls,
    single_string_parameters,
)
from nbext.backends.tool_grammar import (
    CALL_OPENING,
    NoCallOpening,
    Opening,
    call_grammar,
    call_prefix,
    tools_named,
    with_tools_note,
)
from nbext.config import PREFIX_CACHE_BYTES
from nbext.errors import APIError, invalid

DEFAULT_CONTEXT_WINDOW = 32_768
DEFAULT_MAX_TOKENS = 1024
"""Cap on an answer when the request sets none: a 0.5B model at temperature 0
can repeat itself until the context is full, which would hold the model for
minutes. A request's own ``max_tokens`` / ``max_completion_tokens`` wins."""
_EMPTY_TURN = {"role": "user", "content": ""}
_EMPTY_TURN_TEXT = "<|im_start|>user\n<|im_end|>\n"
_N_BATCH = 128
"""Prompt tokens per llama.cpp decode call, and the grain of KV cache reuse: a
request re-evaluates up to ``_N_BATCH - 1`` tokens that a cache ignoring batch
shapes would have kept (see the module doc). llama-cpp-python's default is 512;
measured here, a fresh 1,500-token prompt took as long with 128 (median 38.0 s
vs 37.7 s on one thread of a busy 2-core VM), while repeating it re-evaluated
109 tokens instead of 493."""
_MAX_REWINDS = 3
"""Times one answer is rewound to where the model began a call it may not make and
sampled again from there; after that the answer ends where the call began."""
_ERROR_IN_RESULT = re.compile(r"Traceback|\b[A-Z]\w*(?:Error|Exception)\b|\bfailed\b")
"""What a tool result reporting an error says (a Python traceback, "The code failed")."""
_SEED_SPACE = 0xFFFFFFFF
"""llama.cpp seeds are uint32 and ``0xFFFFFFFF`` (LLAMA_DEFAULT_SEED) means
"pick a random seed": request seeds are folded into ``[0, 0xFFFFFFFE]``."""


class _ObservedLlama(Llama):
    """``Llama`` whose sampled tokens can be watched, with the logits they came from.

    ``logprobs`` need each sampled token's id and its distribution. llama-cpp-python
    only offers them with ``logits_all=True``, which keeps logits for every position
    of the context (32,768 x 151,936 floats: 20 GB) and computes them for every
    prompt token. ``generate()`` calls ``self.sample()`` once per token, so an
    override sees both at the cost of one copy of the last row per token.
    """

    observer: Callable[[int, npt.NDArray[np.float32]], None] | None = None

    def sample(self, *args: Any, **kwargs: Any) -> int:
        observer = self.observer
        if observer is None:
            return super().sample(*args, **kwargs)
        idx = kwargs.get("idx")
        row = idx - self.n_tokens if idx is not None else -1
        logits = np.ctypeslib.as_array(self._ctx.get_logits_ith(row), shape=(self.n_vocab(),))
        raw = logits.copy()  # llama.cpp's buffer: the next decode overwrites it
        token: int = super().sample(*args, **kwargs)
        observer(token, raw)
        return token


@dataclass(frozen=True)
class LogitBias:
    """llama.cpp logits processor: ``logit_bias`` added to the logits (OpenAI's order:
    before the temperature)."""

    biases: Mapping[int, float]

    def __call__(
        self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
    ) -> npt.NDArray[np.single]:
        scores = scores.copy()
        for token, value in self.biases.items():
            scores[token] += value
        return scores


@dataclass
class _LogprobRecorder:
    """Each sampled token's logprob and top alternatives, handed out with the text shown.

    The logprobs are those of the distribution sampling starts from: the model's
    logits with ``logit_bias`` added (so a banned token shows about -100), before
    penalties, grammar and temperature. Tokens are matched to the text that is
    actually shown, byte by byte: tokens of a tool call (which the
    :class:`ToolCallExtractor` keeps out of ``content``) or cut off by a ``stop``
    sequence get no entry, as they are not in ``content``.
    """

    llm: Llama
    top: int
    bias: Mapping[int, float]
    pending: deque[tuple[bytes, ChatCompletionTokenLogprob]] = field(default_factory=deque)
    shown: bytes = b""
    """Shown bytes not yet matched to tokens (the start of a token still being shown)."""

    def observe(self, token: int, logits: npt.NDArray[np.float32]) -> None:
        if llama_vocab_is_eog(self.llm._model.vocab, token):
            return  # <|im_end|> ends the answer; OpenAI gives no entry for it
        for biased, value in self.bias.items():
            logits[biased] += value
        scores = logits.astype(np.float64)
        top = scores.max()
        logprobs = scores - (top + np.log(np.exp(scores - top).sum()))
        best = np.argpartition(-logprobs, self.top)[: self.top] if self.top else []
        alternatives = sorted(best, key=lambda i: -logprobs[i])
        piece = self._bytes(token)
        self.pending.append(
            (
                piece,
                ChatCompletionTokenLogprob(
                    token=piece.decode("utf-8", errors="replace"),
                    bytes=list(piece),
                    logprob=float(logprobs[token]),
                    top_logprobs=[
                        TopLogprob(
                            token=(alt := self._bytes(int(i))).decode("utf-8", errors="replace"),
                            bytes=list(alt),
                            logprob=float(logprobs[i]),
                        )
                        for i in alternatives
                    ],
                ),
            )
        )

    def take(self, text: str) -> list[ChatCompletionTokenLogprob]:
        """The entries of the tokens that ``text`` (shown next) completes."""
        self.shown += text.encode("utf-8")
        taken = []
        while self.pending:
            piece, entry = self.pending[0]
            if self.shown.startswith(piece):
                self.shown = self.shown[len(piece) :]
                taken.append(entry)
            elif piece.startswith(self.shown):
                break  # this token is only partly shown yet
            # else: a token that is not shown (tool call markup): no entry
            self.pending.popleft()
        return taken

    def _bytes(self, token: int) -> bytes:
        return self.llm.detokenize([token])


@dataclass
class _LoadedModel:
    """One llama.cpp model per process, shared by every backend object.

    llama.cpp holds one KV cache per context: two generations at once would
    corrupt each other, so they take turns on ``lock`` (a queue in effect).
    """

    llm: _ObservedLlama
    tokens: ChatTokenizer
    """The model's tokenizer and chat template (prompts and their token counts)."""
    lock: threading.Lock
    created: int
    whole_batches: int = 0
    """How many leading tokens of the last prompt were evaluated as whole
    ``n_batch`` batches from position 0, i.e. exactly as a fresh evaluation of
    any prompt starting with them would be. Only these KV entries may be
    reused; the last prompt's tail batch and the generated tokens (decoded one
    at a time) may not."""
    prefix_cache: PrefixCache = field(default_factory=PrefixCache)
    """The whole batches of earlier prompts, put back when a prompt shares more
    of them than the live KV cache does."""

    def forget(self) -> None:
        """Make the next request evaluate its whole prompt, as in a fresh process."""
        self.llm.reset()
        self.whole_batches = 0
        self.prefix_cache.clear()

    def reuse_saved_prefix(self, prompt: list[int]) -> None:
        """Before ``prompt`` is evaluated: keep the live KV cache's whole batches in
        the prefix cache if ``prompt`` would overwrite some of them, and put back a
        saved state if one shares more whole batches with ``prompt``."""
        live = _reusable_prefix(self, prompt)
        kept = min(self.whole_batches, self.llm.n_tokens)
        if live < kept:
            self.prefix_cache.save(self.llm, kept)
        saved, key = self.prefix_cache.best(prompt, self.llm.n_batch)
        if key is not None and saved > live:
            self.prefix_cache.restore(self.llm, key, saved)
            self.whole_batches = saved


@functools.cache
def _load(model_path: Path, n_ctx: int, threads: int) -> _LoadedModel:
    # n_threads_batch too: prompt evaluation is most of a long request's time,
    # and llama-cpp-python's default for n_threads is half the cores.
    llm = _ObservedLlama(
        model_path=str(model_path),
        n_ctx=n_ctx,
        n_batch=_N_BATCH,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    tokens = ChatTokenizer(llm, chat_formatter(llm))
    return _LoadedModel(llm, tokens, threading.Lock(), int(model_path.stat().st_mtime))


@dataclass(frozen=True)
class _Plan:
    """Everything decided about a request before the first token is sampled."""

    prompt: str
    prompt_tokens: int
    prefix: str
    """Text forced onto the start of the answer (the opening of a forced call)."""
    tokens: list[int]
    """``prompt + prefix`` as tokens: what llama.cpp evaluates."""
    grammar: LlamaGrammar | None
    tools: list[Any]
    """The function tools the answer may call (none under ``tool_choice: "none"``)."""
    watched: list[Any]
    """The request's function tools, whose calls are looked for in the output even
    under ``tool_choice: "none"``: there a call the model writes anyway ends the
    answer, and is never shown as text."""
    forced_call: bool
    max_tokens: int
    sampling: dict[str, Any]
    """Keyword arguments of ``create_completion``: sampler and penalties."""
    bias: dict[int, float] | None
    """``logit_bias`` by token id."""
    top_logprobs: int | None
    """``None``: no logprobs asked for; else how many alternatives per token."""

    @property
    def processors(self) -> list[Callable[[Any, Any], Any]]:
        """Logits processors every sampled token goes through. ``logit_bias`` is one of
        the kit's, not llama-cpp-python's: given processors too, that drops them all
        (``list.extend`` returns None)."""
        return [LogitBias(self.bias)] if self.bias else []


class EmbeddedBackend:
    """Chat Completions on one of the bundled GGUF models."""

    def __init__(
        self,
        model_dir: Path,
        *,
        model: str | None = None,
        context_window: int = DEFAULT_CONTEXT_WINDOW,
        progress: bool = True,
        threads: int | None = None,
        prefix_cache_bytes: int = PREFIX_CACHE_BYTES,
    ) -> None:
        """``model``: a catalogue id (:mod:`nbext.backends.models`), ``None``
        for the default; ``threads``: llama.cpp threads for generation and
        prompt evaluation, ``None`` means every core this process may run on;
        ``prefix_cache_bytes``: memory for earlier prompts' KV caches (0: none)."""
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}.")
        self._prefix_cache_bytes = prefix_cache_bytes
        self._model = find_model(model)
        self._model_dir = model_dir
        self._context_window = context_window
        self._progress = progress
        self._threads = threads or _available_cores()

    @property
    def default_model(self) -> str:
        return self._model.id

    @property
    def catalogue_entry(self) -> EmbeddedModel:
        """The model this backend serves: its file, size, sha256, licence."""
        return self._model

    @property
    def context_window(self) -> int:
        return self._context_window

    @property
    def threads(self) -> int:
        """llama.cpp threads used for both generation and prompt evaluation."""
        return self._threads

    @property
    def description(self) -> str:
        return f"embedded llama.cpp model {self._model.id} (Q4_K_M, in this process)"

    def load(self) -> _LoadedModel:
        """Assemble (first time only) and load the model; later calls are free."""
        path = ensure_model_file(self._model_dir, self._model, progress=self._progress)
        model = _load(path, self._context_window, self._threads)
        model.prefix_cache.max_bytes = self._prefix_cache_bytes  # one setting per process
        return model

    def list_models(self) -> list[Model]:
        created = self.load().created
        return [Model(id=self._model.id, object="model", created=created, owned_by="nbext")]

    def count_tokens(self, messages: Sequence[Any], tools: Sequence[Any] | None = None) -> int:
        model = self.load()
        if not messages:
            # Qwen's template reads messages[0]: measure with an empty user turn,
            # then take that turn's own tokens off.
            with_turn = self._render(model, [_EMPTY_TURN], list(tools or []), None)
            return len(self._tokenize(model, with_turn)) - len(
                self._tokenize(model, _EMPTY_TURN_TEXT)
            )
        prompt = self._render(model, list(messages), list(tools or []), None)
        return len(self._tokenize(model, prompt))

    @property
    def token_counting(self) -> TokenCounting:
        return "tokenizer"

    def create(self, request: ChatRequest) -> ChatCompletion:
        content: list[str] = []
        tool_calls: list[ChatCompletionMessageFunctionToolCall] = []
        finish_reason = "stop"
        usage = None
        completion_id, created = "", 0
        token_logprobs: list[ChatCompletionTokenLogprob] = []
        for chunk in self.stream(request):
            completion_id, created = chunk.id, chunk.created
            usage = chunk.usage or usage
            for choice in chunk.choices:
                content.append(choice.delta.content or "")
                if choice.logprobs is not None:
                    token_logprobs.extend(choice.logprobs.content or [])
                for call in choice.delta.tool_calls or []:
                    assert call.id and call.function and call.function.name is not None
                    tool_calls.append(
                        ChatCompletionMessageFunctionToolCall(
                            id=call.id,
                            type="function",
                            function=Function(
                                name=call.function.name, arguments=call.function.arguments or ""
                            ),
                        )
                    )
                finish_reason = choice.finish_reason or finish_reason
        # Fields OpenAI always sends (even as null) are set explicitly, so the
        # server's exclude_unset dump keeps them; absent tool calls stay absent.
        message = ChatCompletionMessage(
            role="assistant",
            content="".join(content) if not tool_calls else ("".join(content) or None),
            refusal=None,
        )
        if tool_calls:
            message.tool_calls = tool_calls
        return ChatCompletion(
            id=completion_id,
            object="chat.completion",
            created=created,
            model=self._model.id,
            choices=[
                Choice(
                    index=0,
                    message=message,
                    finish_reason=finish_reason,
                    logprobs=ChoiceLogprobs(content=token_logprobs, refusal=None)
                    if request.get("logprobs")
                    else None,
                )
            ],
            usage=usage,
        )

    def stream(self, request: ChatRequest) -> Iterator[ChatCompletionChunk]:
        model = self.load()
        self._check_model_name(request)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())

        _refuse_unsupported(request)
        recorder: _LogprobRecorder | None = None

        def chunk(delta: ChoiceDelta, finish_reason: str | None = None) -> ChatCompletionChunk:
            logprobs = None
            if recorder is not None and delta.content:
                logprobs = ChunkLogprobs(content=recorder.take(delta.content), refusal=None)
            return ChatCompletionChunk(
                id=completion_id,
                object="chat.completion.chunk",
                created=created,
                model=self._model.id,
                choices=[
                    ChunkChoice(
                        index=0, delta=delta, finish_reason=finish_reason, logprobs=logprobs
                    )
                ],
            )

        with model.lock:
            plan = self._plan(model, request)
            if plan.top_logprobs is not None:
                bias = plan.bias or {}
                recorder = _LogprobRecorder(model.llm, plan.top_logprobs, bias)
            yield chunk(ChoiceDelta(role="assistant", content=""))
            settled = ""  # answer text shown already, which the next attempt continues
            # Right after tool results the small model tends to echo its call instead
            # of reading them: its answer starts with words (a call may follow them).
            # Not after an error, where a corrected call at once is the right move.
            after_results = _after_good_tool_results(request) and not plan.forced_call
            opening = Opening.WORDS if after_results else Opening.FREE
            rewinds = 0
            model.reuse_saved_prefix(plan.tokens)
            while True:
                extractor = self._extractor(plan)
                prompt = plan.tokens + (self._tokenize(model, settled) if settled else [])
                generated: list[str] = []
                finish_reason = "stop"
                # generate() keeps the longest prefix of llm.input_ids[:n_tokens]
                # that the prompt shares: cutting n_tokens down to a batch boundary
                # makes it evaluate the rest in a fresh evaluation's batches.
                model.llm.n_tokens = _reusable_prefix(model, prompt)
                model.whole_batches = len(prompt) // model.llm.n_batch * model.llm.n_batch
                barring = (
                    [
                        NoCallOpening(
                            model.llm,
                            len(prompt),
                            answer_blank=not settled.strip(),
                            allow_call_tag=opening is Opening.WORDS_OR_CALL_TAG,
                        )
                    ]
                    if opening is not Opening.FREE
                    else None
                )
                pieces = model.llm.create_completion(
                    prompt=prompt,
                    max_tokens=max(plan.max_tokens - (len(prompt) - len(plan.tokens)), 1),
                    grammar=plan.grammar,
                    stream=True,
                    logits_processor=[*plan.processors, *(barring or [])] or None,  # type: ignore[arg-type]
                    **plan.sampling,
                )
                # Tokens are sampled inside the loop below, as its pieces are pulled.
                model.llm.observer = recorder.observe if recorder else None
                try:
                    for piece in pieces:
                        choice = piece["choices"][0]
                        text = choice["text"]
                        generated.append(text)
                        if choice.get("finish_reason") == "length":
                            finish_reason = "length"
                        if plan.forced_call:
                            continue
                        visible = extractor.feed(text) if extractor else text
                        if visible:
                            yield chunk(ChoiceDelta(content=visible))
                        # A call began: it is written again under the grammar, or rewound.
                        # A python block is a call as written, once it closes.
                        if (
                            extractor
                            and (begun := extractor.started)
                            and (not begun.code or extractor.calls)
                        ):
                            break
                finally:
                    model.llm.observer = None
                output = settled + "".join(generated)
                started = extractor.started if extractor and not plan.forced_call else None
                if started is None:
                    calls = self._finish_calls(plan, output, extractor)
                    if extractor and not plan.forced_call and (leftover := extractor.finish()):
                        yield chunk(ChoiceDelta(content=leftover))
                    break
                assert extractor is not None
                pieces.close()  # type: ignore[attr-defined]
                text_before = output[: len(settled) + started.offset]
                calls = []
                if started.code:  # the block's code is the call, as the model wrote it
                    extractor.finish()  # the block may be cut short by max_tokens
                    calls = extractor.calls
                elif plan.tools and not started.unlisted:
                    output, finish_reason = self._write_call(model, plan, text_before, started.name)
                    calls = _written_calls(output)
                    if not calls:  # cut short by max_tokens
                        break
                    if (
                        started.result_tag
                        and opening is not Opening.WORDS_OR_CALL_TAG
                        and any(call.name not in READ_ONLY_TOOLS for call in calls)
                    ):
                        # The 1.5B opens <tool_response> where it should answer, and
                        # writes a call to a tool that acts (tool eval, temperature 0):
                        # again from there, once, with a <tool_call> token or words.
                        # A search opened so is made: without it the 1.5B never searches.
                        calls = []
                        settled, opening = text_before, Opening.WORDS_OR_CALL_TAG
                        rewinds += 1
                        continue
                if calls and not repeats_made_calls(calls, request.get("messages") or []):
                    break
                # No call to make (tools not allowed, a tool that is not offered, or a
                # call whose result the conversation holds, echoed instead of read):
                # the model writes something else from where the call began.
                calls = []
                if rewinds < _MAX_REWINDS:
                    settled, opening, rewinds = text_before, Opening.WORDS, rewinds + 1
                    continue
                output, finish_reason = text_before, "stop"
                break
            if request.get("parallel_tool_calls") is False:
                calls = calls[:1]
            for index, call in enumerate(calls):
                yield chunk(
                    ChoiceDelta(
                        tool_calls=[
                            ChoiceDeltaToolCall(
                                index=index,
                                id=call.id,
                                type="function",
                                function=ChoiceDeltaToolCallFunction(
                                    name=call.name, arguments=call.arguments
                                ),
                            )
                        ]
                    )
                )
            if calls:
                finish_reason = "tool_calls"
            yield chunk(ChoiceDelta(), finish_reason)
            completion_tokens = len(self._tokenize(model, plan.prefix + output))
            yield ChatCompletionChunk(
                id=completion_id,
                object="chat.completion.chunk",
                created=created,
                model=self._model.id,
                choices=[],
                usage=CompletionUsage(
                    prompt_tokens=plan.prompt_tokens,
                    completion_tokens=completion_tokens,
                    total_tokens=plan.prompt_tokens + completion_tokens,
                ),
            )

    # -- request planning -------------------------------------------------

    def _check_model_name(self, request: ChatRequest) -> None:
        name = request.get("model")
        if name and name not in (self._model.id, "default"):
            # Another embedded model is served by a server started with it.
            hint = (
                f"start the server with NBEXT_MODEL={name} (or run `nbext model --use {name}`)"
                if name in CATALOGUE
                else "set NBEXT_BACKEND_URL to use another provider"
            )
            raise APIError(
                f"The model '{name}' does not exist on this server. The embedded backend "
                f"serves '{self._model.id}'; {hint}.",
                status=404,
                param="model",
                code="model_not_found",
            )

    def _plan(self, model: _LoadedModel, request: ChatRequest) -> _Plan:
        messages = list(request.get("messages") or [])
        if not messages:
            raise invalid("'messages' must be a non-empty array.", param="messages")
        tools = [t for t in request.get("tools") or [] if t.get("type") == "function"]
        watched = tools
        tool_choice = request.get("tool_choice", "auto" if tools else "none")
        if tool_choice == "none":
            tools = []

        grammar, prefix, forced = None, "", False
        if tools and tool_choice != "auto":
            chosen = self._forced_tools(tools, tool_choice)
            grammar = call_grammar(chosen)
            prefix, forced = CALL_OPENING, True
        elif (fmt := request.get("response_format")) and fmt.get("type") != "text":
            grammar = _format_grammar(fmt)

        prompt = self._render(model, messages, tools, tool_choice)
        tokens = self._tokenize(model, prompt)
        prompt_tokens = len(tokens)
        if prefix:
            tokens = self._tokenize(model, prompt + prefix)
        room = self._context_window - prompt_tokens
        if room <= 0:
            raise invalid(
                f"This model's maximum context length is {self._context_window} tokens. "
                f"However, your messages resulted in {prompt_tokens} tokens. "
                "Please reduce the length of the messages.",
                param="messages",
                code="context_length_exceeded",
            )
        limit = request.get("max_completion_tokens") or request.get("max_tokens")
        # What the request leaves unset, the model's makers choose (not OpenAI's 1.0),
        # except that a model deciding about tools decides greedily (models.py).
        recommended = self._model.sampling_with_tools if tools else self._model.sampling
        temperature, top_p = request.get("temperature"), request.get("top_p")
        temperature = recommended.temperature if temperature is None else temperature
        sampling: dict[str, Any] = {
            "temperature": temperature,
            "top_p": recommended.top_p if top_p is None else top_p,
            "top_k": recommended.top_k,
            "seed": _sampler_seed(request.get("seed")),
            "stop": _stop_list(request.get("stop")),
            "frequency_penalty": request.get("frequency_penalty"),
            "presence_penalty": request.get("presence_penalty"),
        }
        return _Plan(
            prompt=prompt,
            prompt_tokens=prompt_tokens,
            prefix=prefix,
            tokens=tokens,
            grammar=grammar,
            tools=tools,
            watched=watched,
            forced_call=forced,
            max_tokens=min(limit or DEFAULT_MAX_TOKENS, room),
            sampling={k: v for k, v in sampling.items() if v is not None},
            bias=_token_biases(request.get("logit_bias"), model.llm.n_vocab()),
            top_logprobs=request.get("top_logprobs", 0) if request.get("logprobs") else None,
        )

    @staticmethod
    def _forced_tools(tools: list[Any], tool_choice: Any) -> list[Any]:
        if tool_choice == "required":
            return tools
        if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
            wanted = tool_choice["function"]["name"]
            chosen = [t for t in tools if t["function"]["name"] == wanted]
            if chosen:
                return chosen
            raise invalid(
                f"tool_choice names the function '{wanted}', which is not in 'tools'.",
                param="tool_choice",
            )
        raise invalid(f"Unsupported tool_choice: {tool_choice!r}.", param="tool_choice")

    @staticmethod
    def _render(
        model: _LoadedModel, messages: list[Any], tools: list[Any], tool_choice: Any
    ) -> str:
        if tools and tool_choice in (None, "auto"):  # the model decides: tell it how
            messages = with_tools_note(messages)
        return model.tokens.render(messages, tools, tool_choice)

    @staticmethod
    def _tokenize(model: _LoadedModel, text: str) -> list[int]:
        return model.tokens.tokenize(text)

    def _write_call(
        self, model: _LoadedModel, plan: _Plan, text_before: str, name: str | None
    ) -> tuple[str, str]:
        """Rewind to where the model began a call and have the call written under the
        grammar; return the whole answer text and the finish reason.

        The KV cache still holds the prompt exactly as this request evaluated it, so
        only the words before the call and the call's opening are evaluated again.
        """
        prefix = call_prefix(text_before)
        prefix_tokens = self._tokenize(model, prefix)
        model.llm.n_tokens = min(model.llm.n_tokens, len(plan.tokens))
        room = plan.max_tokens - len(prefix_tokens)
        sampling = {k: v for k, v in plan.sampling.items() if k != "stop"}  # JSON may hold one
        result = model.llm.create_completion(
            prompt=plan.tokens + prefix_tokens,
            max_tokens=max(room, 1),
            grammar=call_grammar(tools_named(plan.tools, name)),
            logits_processor=plan.processors or None,  # type: ignore[arg-type]
            **sampling,
        )
        choice = result["choices"][0]  # type: ignore[index]
        finish_reason = "length" if choice.get("finish_reason") == "length" else "stop"
        return prefix + choice["text"], finish_reason

    @staticmethod
    def _extractor(plan: _Plan) -> ToolCallExtractor | None:
        """What reads the calls in an answer to ``plan`` (``None`` if no tool is watched)."""
        if not plan.watched:
            return None
        callable_names = {tool["function"]["name"] for tool in plan.tools}
        return ToolCallExtractor(
            [tool["function"]["name"] for tool in plan.watched],
            single_string_parameters(plan.watched),
            code_tool=CODE_TOOL if CODE_TOOL in callable_names else None,
        )

    @staticmethod
    def _finish_calls(
        plan: _Plan, output: str, extractor: ToolCallExtractor | None
    ) -> list[ParsedCall]:
        if plan.forced_call:
            return _written_calls(plan.prefix + output)
        return extractor.calls if extractor else []


def _after_good_tool_results(request: ChatRequest) -> bool:
    """Whether the request ends with tool results none of which shows an error."""
    results = list(
        itertools.takewhile(
            lambda message: message.get("role") == "tool",
            reversed(request.get("messages") or []),
        )
    )
    return bool(results) and not any(
        _ERROR_IN_RESULT.search(str(result.get("content") or "")) for result in results
    )


def _written_calls(answer: str) -> list[ParsedCall]:
    """The call in an answer whose call was written under the grammar (none if it was
    cut short by ``max_tokens``)."""
    call_json = answer[answer.rindex(CALL_OPENING) + len(CALL_OPENING) :]
    try:  # the grammar lets a string hold raw newlines, as llama.cpp writes JSON strings
        call = json.loads(call_json, strict=False)
    except json.JSONDecodeError:
        return []
    return [ParsedCall(name=call["name"], arguments=json.dumps(call["arguments"]))]


def _available_cores() -> int:
    """Cores this process may use: its CPU affinity (``taskset``, a cpuset), and
    no more than a cgroup CPU quota allows (Binder and JupyterHub limit CPU that
    way while the affinity still lists every core of the host, and more threads
    than the quota allows spin-wait on each other)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = _cgroup_cpu_quota()
    return max(1, min(cores or 1, quota or cores or 1))


def _cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Whole CPUs this cgroup may use (rounded up), or ``None`` without a quota."""
    try:  # cgroup v2: "max 100000" or "200000 100000"
        quota, period = (root / "cpu.max").read_text().split()
    except (OSError, ValueError):
        try:  # cgroup v1: a quota of -1 means none
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1") or not quota.isdigit() or not period.isdigit() or int(period) == 0:
        return None
    return max(1, -(-int(quota) // int(period)))


def _sampler_seed(seed: int | None) -> int:
    """The uint32 seed llama.cpp's sampler gets for a request's ``seed``.

    Folded, not truncated by ctypes, so no seed lands on ``0xFFFFFFFF`` (which
    llama.cpp reads as "random"); no seed means a fresh random one, since
    llama-cpp-python would otherwise derive it from the previous request's.
    """
    if seed is None:
        return secrets.randbelow(_SEED_SPACE)
    return seed % _SEED_SPACE


def _reusable_prefix(model: _LoadedModel, tokens: Sequence[int]) -> int:
    """How many leading KV cache entries a request for ``tokens`` may keep.

    A multiple of ``n_batch``, within what the previous prompt evaluated as
    whole batches, shared with ``tokens``, and short of the last token (whose
    logits must come from this evaluation). Evaluation then resumes on a batch
    boundary, so every remaining batch is the one a fresh evaluation would
    decode, with the same KV cache before it: the logits are the fresh ones.
    """
    llm = model.llm
    n_batch = llm.n_batch
    limit = min(model.whole_batches, llm.n_tokens, len(tokens) - 1)
    if limit < n_batch:
        return 0
    return shared_length(llm.input_ids[:limit].tolist(), tokens, limit) // n_batch * n_batch


def _format_grammar(response_format: Any) -> LlamaGrammar:
    kind = response_format.get("type")
    if kind == "json_object":
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise invalid(
                "response_format.json_schema.schema must be a JSON schema object.",
                param="response_format",
            )
        return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    raise invalid(f"Unsupported response_format type: {kind!r}.", param="response_format")


def _stop_list(stop: Any) -> list[str] | None:
    if stop is None:
        return None
    return [stop] if isinstance(stop, str) else list(stop)


def _token_biases(logit_bias: Mapping[str, float] | None, n_vocab: int) -> dict[int, float] | None:
    """``logit_bias`` as llama.cpp takes it: token ids as ints (JSON keys are strings),
    each one in the model's vocabulary."""
    if not logit_bias:
        return None
    biases = {int(token): float(bias) for token, bias in logit_bias.items()}
    for token in biases:
        if not 0 <= token < n_vocab:
            raise invalid(
                f"Invalid key in 'logit_bias': {token}. Maximum value is {n_vocab - 1} "
                "(this model's vocabulary).",
                param="logit_bias",
            )
    return biases


_UNSUPPORTED_PARAMETERS: dict[str, str] = {
    "audio": "audio output needs an audio model",
    "functions": "use 'tools' (the deprecated 'functions' are not translated)",
    "function_call": "use 'tool_choice' (the deprecated 'function_call' is not translated)",
    "moderation": "this server runs no moderation model",
    "prediction": "predicted outputs are not implemented by llama.cpp here",
    "reasoning_effort": "the model is not a reasoning model",
    "verbosity": "the model has no verbosity control",
    "web_search_options": "the model cannot search the web",
}
"""Request fields the embedded model cannot honour, and why (said in the 400)."""


def _refuse_unsupported(request: ChatRequest) -> None:
    """OpenAI's 400 for what this model cannot do, rather than silently ignoring it.

    Fields that change nothing in the answer (``user``, ``metadata``,
    ``safety_identifier``, ``prompt_cache_key``, ``service_tier``...) pass.
    """
    for name, why in _UNSUPPORTED_PARAMETERS.items():
        if request.get(name) is not None:
            raise APIError(
                f"Unsupported parameter: '{name}' is not supported with this model ({why}).",
                param=name,
                code="unsupported_parameter",
            )
    n = request.get("n")
    if n is not None and n != 1:
        raise _unsupported_value("n", n, "only the default (1) value is supported")
    modalities = request.get("modalities")
    if modalities is not None and list(modalities) != ["text"]:
        raise _unsupported_value("modalities", modalities, "only ['text'] is supported")
    if request.get("store"):
        raise _unsupported_value(
            "store", True, "this server has no stored-completions API; leave it false"
        )


def _unsupported_value(name: str, value: Any, why: str) -> APIError:
    return APIError(
        f"Unsupported value: '{name}' does not support {json.dumps(value)} with this model: {why}.",
        param=name,
        code="unsupported_value",
    )
