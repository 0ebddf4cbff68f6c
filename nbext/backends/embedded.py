"""The default backend: a Qwen2.5-Coder GGUF run in-process by llama.cpp.

Which one is chosen by ``NBEXT_MODEL`` or ``nbext model --use`` from the
catalogue in :mod:`nbext.backends.models` (Qwen2.5-Coder-0.5B-Instruct unless
chosen otherwise).

No key and no network. The GGUF's own chat template renders the prompt (tool
definitions included) and the output is read back into OpenAI's shapes by
:mod:`nbext.backends.tool_calls`. Forced tool calls and JSON output use
llama.cpp's grammar-constrained decoding, so they are valid by construction
rather than by the small model's good will.

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
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_cpp import Llama
from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar
from openai.types import CompletionUsage, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import (
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from openai.types.chat.chat_completion_message_function_tool_call import (
    ChatCompletionMessageFunctionToolCall,
    Function,
)

from nbext.backends.base import ChatRequest, TokenCounting
from nbext.backends.chat_tokens import ChatTokenizer, chat_formatter
from nbext.backends.model_file import ensure_model_file
from nbext.backends.models import CATALOGUE, EmbeddedModel, find_model
from nbext.backends.tool_calls import ParsedCall, ToolCallExtractor
from nbext.errors import APIError, invalid

DEFAULT_CONTEXT_WINDOW = 32_768
DEFAULT_MAX_TOKENS = 1024
"""Cap on an answer when the request sets none: a 0.5B model at temperature 0
can repeat itself until the context is full, which would hold the model for
minutes. A request's own ``max_tokens`` / ``max_completion_tokens`` wins."""
_FORCED_CALL_PREFIX = "<tool_call>\n"
_N_BATCH = 128
"""Prompt tokens per llama.cpp decode call, and the grain of KV cache reuse: a
request re-evaluates up to ``_N_BATCH - 1`` tokens that a cache ignoring batch
shapes would have kept (see the module doc). llama-cpp-python's default is 512;
measured here, a fresh 1,500-token prompt took as long with 128 (median 38.0 s
vs 37.7 s on one thread of a busy 2-core VM), while repeating it re-evaluated
109 tokens instead of 493."""
_SEED_SPACE = 0xFFFFFFFF
"""llama.cpp seeds are uint32 and ``0xFFFFFFFF`` (LLAMA_DEFAULT_SEED) means
"pick a random seed": request seeds are folded into ``[0, 0xFFFFFFFE]``."""


@dataclass
class _LoadedModel:
    """One llama.cpp model per process, shared by every backend object.

    llama.cpp holds one KV cache per context: two generations at once would
    corrupt each other, so they take turns on ``lock`` (a queue in effect).
    """

    llm: Llama
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


@functools.cache
def _load(model_path: Path, n_ctx: int, threads: int) -> _LoadedModel:
    # n_threads_batch too: prompt evaluation is most of a long request's time,
    # and llama-cpp-python's default for n_threads is half the cores.
    llm = Llama(
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
    tool_names: tuple[str, ...]
    forced_call: bool
    max_tokens: int
    sampling: dict[str, Any]


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
    ) -> None:
        """``model``: a catalogue id (:mod:`nbext.backends.models`), ``None``
        for the default; ``threads``: llama.cpp threads for generation and
        prompt evaluation, ``None`` means every core this process may run on."""
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}.")
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
        return _load(path, self._context_window, self._threads)

    def list_models(self) -> list[Model]:
        created = self.load().created
        return [Model(id=self._model.id, object="model", created=created, owned_by="nbext")]

    def count_tokens(self, messages: Sequence[Any], tools: Sequence[Any] | None = None) -> int:
        return self.load().tokens.count(messages, tools)

    @property
    def token_counting(self) -> TokenCounting:
        return "tokenizer"

    def create(self, request: ChatRequest) -> ChatCompletion:
        content: list[str] = []
        tool_calls: list[ChatCompletionMessageFunctionToolCall] = []
        finish_reason = "stop"
        usage = None
        completion_id, created = "", 0
        for chunk in self.stream(request):
            completion_id, created = chunk.id, chunk.created
            usage = chunk.usage or usage
            for choice in chunk.choices:
                content.append(choice.delta.content or "")
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
            choices=[Choice(index=0, message=message, finish_reason=finish_reason, logprobs=None)],
            usage=usage,
        )

    def stream(self, request: ChatRequest) -> Iterator[ChatCompletionChunk]:
        model = self.load()
        self._check_model_name(request)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())

        def chunk(delta: ChoiceDelta, finish_reason: str | None = None) -> ChatCompletionChunk:
            return ChatCompletionChunk(
                id=completion_id,
                object="chat.completion.chunk",
                created=created,
                model=self._model.id,
                choices=[
                    ChunkChoice(index=0, delta=delta, finish_reason=finish_reason, logprobs=None)
                ],
            )

        with model.lock:
            plan = self._plan(model, request)
            yield chunk(ChoiceDelta(role="assistant", content=""))
            extractor = ToolCallExtractor(plan.tool_names) if plan.tool_names else None
            generated: list[str] = []
            finish_reason = "stop"
            # generate() keeps the longest prefix of llm.input_ids[:n_tokens]
            # that the prompt shares: cutting n_tokens down to a batch boundary
            # makes it evaluate the rest in a fresh evaluation's batches.
            model.llm.n_tokens = _reusable_prefix(model, plan.tokens)
            model.whole_batches = len(plan.tokens) // model.llm.n_batch * model.llm.n_batch
            pieces = model.llm.create_completion(
                prompt=plan.tokens,
                max_tokens=plan.max_tokens,
                grammar=plan.grammar,
                stream=True,
                **plan.sampling,
            )
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
            output = "".join(generated)
            calls = self._finish_calls(plan, output, extractor)
            if extractor and not plan.forced_call and (leftover := extractor.finish()):
                yield chunk(ChoiceDelta(content=leftover))
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
            completion_tokens = len(model.tokens.tokenize(plan.prefix + output))
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
        tool_choice = request.get("tool_choice", "auto" if tools else "none")
        if tool_choice == "none":
            tools = []
        names = tuple(t["function"]["name"] for t in tools)

        grammar, prefix, forced = None, "", False
        if tools and tool_choice != "auto":
            chosen = self._forced_tools(tools, tool_choice)
            grammar = LlamaGrammar.from_json_schema(json.dumps(_call_schema(chosen)), verbose=False)
            prefix, forced = _FORCED_CALL_PREFIX, True
        elif (fmt := request.get("response_format")) and fmt.get("type") != "text":
            grammar = _format_grammar(fmt)

        prompt = model.tokens.render(messages, tools, tool_choice)
        tokens = model.tokens.tokenize(prompt)
        prompt_tokens = len(tokens)
        if prefix:
            tokens = model.tokens.tokenize(prompt + prefix)
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
        sampling: dict[str, Any] = {
            "temperature": request.get("temperature", 1.0),
            "top_p": request.get("top_p", 1.0),
            "seed": _sampler_seed(request.get("seed")),
            "stop": _stop_list(request.get("stop")),
        }
        return _Plan(
            prompt=prompt,
            prompt_tokens=prompt_tokens,
            prefix=prefix,
            tokens=tokens,
            grammar=grammar,
            tool_names=names,
            forced_call=forced,
            max_tokens=min(limit or DEFAULT_MAX_TOKENS, room),
            sampling={k: v for k, v in sampling.items() if v is not None},
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
    def _finish_calls(
        plan: _Plan, output: str, extractor: ToolCallExtractor | None
    ) -> list[ParsedCall]:
        if plan.forced_call:
            call = json.loads(output)
            return [ParsedCall(name=call["name"], arguments=json.dumps(call["arguments"]))]
        return extractor.calls if extractor else []


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
    shared = 0
    for old, new in zip(llm.input_ids[:limit].tolist(), tokens[:limit], strict=True):
        if old != new:
            break
        shared += 1
    return shared // n_batch * n_batch


def _call_schema(tools: list[Any]) -> dict[str, Any]:
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
