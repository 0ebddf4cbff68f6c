"""What the kit's server process costs on top of the bare model, measured side by side.

nbext never lets a learner call llama.cpp directly: every ``%%chat`` goes through
the official ``openai`` client, over HTTP, to this user's local server process
(``python -m nbext.server.local``, found or started by ``%load_ext nbext`` and
shared by all of the user's kernels; it runs the model at nice +2, see
:mod:`nbext.local_server`). That is the point of the lesson, but it must not
make the model feel slower. This script measures what that path adds, in one run:

1. Generation speed: tokens/s of raw llama-cpp-python (``Llama.create_completion``
   in this process on the exact prompt the backend renders), at
   ``n_threads = n_threads_batch`` = 1 and = 2 (separate ``Llama`` objects; the
   better one is the baseline), against the same request streamed through the
   server process and the ``openai`` SDK. Speed is taken from the first token
   to the last, so prompt processing is left out, and also end to end. All
   variants count tokens the same way (the model's tokenizer on the streamed
   text), run at temperature 0 and evaluate the whole prompt (raw resets its
   KV cache before each run; the server never reuses less than a 512-token
   batch). Goal: server/raw >= 0.9. The SDK's ``.stream()`` helper, which
   ``%%chat`` uses, is measured too (for information). With ``--diagnose``
   three more variants show where the server's time goes (the backend
   in-process, plain httpx SSE, a server whose OpenMP threads do not spin),
   and the CPU time client and server spend per token is printed.
2. Time to first token added by the server: TTFT through server + SDK minus
   TTFT of raw llama-cpp-python at the server's thread count on the same prompt,
   p50 and p90 over interleaved rounds. Goal: <= 15 ms at p50.
3. Cold start in a real Jupyter kernel (``jupyter_client`` + ``ipykernel``):
   from sending ``%load_ext nbext`` (followed at once by a ``%%chat`` cell, as
   "Run all" does) to the first token drawn, (a) in the first kernel, no server
   running (goal < 5 s), (b) in a second kernel while the server is up
   (goal < 1 s).
4. Server threads, ``NBEXT_THREADS=1`` vs ``2`` (two servers side by side):
   generation tokens/s with the machine otherwise quiet and while another
   kernel runs a CPU-bound loop (how much CPU that kernel keeps is reported
   too), and the round trip of a trivial ``execute_request`` to a kernel while
   another kernel's ``%%chat`` is generating. With ``--diagnose``, also a
   server at 2 threads started with ``OMP_WAIT_POLICY=passive``.

The machine this runs on is shared and noisy, so the variants are interleaved
(the order rotated and reversed from round to round), repeated, and summarised
by medians and by the median of per-round ratios/differences rather than by a
single run each.

Every server and kernel runs in a fresh ``NBEXT_HOME`` whose ``models`` is a
symlink to the user's ``~/.cache/nbext/models``: the user's database, key and
servers are never touched. The model file must already be there (``nbext model``).

Usage::

    python benchmarks/bench_chat.py               # full run, about 15 minutes
    python benchmarks/bench_chat.py --diagnose    # and where the time goes, about 25
    python benchmarks/bench_chat.py --quick       # smoke run, a few minutes
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import random
import shutil
import statistics
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

import openai
from bench_kernels import KIT_VARIABLES, Kernel, bench_home, kit_environ, stop_servers
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from nbext import local_server
from nbext.backends.embedded import DEFAULT_CONTEXT_WINDOW
from nbext.backends.models import find_model
from nbext.backends.tool_calls import arguments_as_objects
from nbext.client import make_client
from nbext.config import Settings

MAX_TOKENS = 128
STORY_PROMPT = (
    "Write a long story about a lighthouse keeper who befriends a lost whale. "
    "Make it at least 500 words."
)
SHORT_PROMPT = "Answer with one word: what colour is a clear daytime sky?"
RAW_THREADS = (1, 2)
GEN_GOAL = 0.9
TTFT_GOAL_MS = 15.0
COLD_GOAL_S = 5.0
WARM_GOAL_S = 1.0


# -- measuring one request ----------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One streamed answer: its text and when its tokens arrived."""

    text: str
    tokens: int
    ttft_s: float
    """From the call to the first non-empty piece of text."""
    first_to_last_s: float
    total_s: float
    """From the call until the stream is exhausted."""
    prompt_tokens: int | None = None
    """The server's ``usage.prompt_tokens`` (checks that both sides saw one prompt)."""
    client_cpu_s: float = 0.0
    """CPU time of this (the client's) process during the run, all threads."""
    server_cpu_s: float = 0.0
    """CPU time of the bench's server processes during the run."""

    @property
    def gen_tps(self) -> float:
        """Tokens/s between first and last token (n tokens, n - 1 gaps)."""
        return (self.tokens - 1) / self.first_to_last_s if self.first_to_last_s > 0 else 0.0

    @property
    def e2e_tps(self) -> float:
        return self.tokens / self.total_s


def _timed(pieces: Iterator[str], started: float) -> tuple[str, float, float, float]:
    """Drain ``pieces``; return text, first-text, last-text and end times (from ``started``)."""
    parts: list[str] = []
    first = last = None
    for piece in pieces:
        if piece:
            now = time.perf_counter()
            first = first if first is not None else now
            last = now
            parts.append(piece)
    end = time.perf_counter()
    first = end if first is None else first
    last = end if last is None else last
    return "".join(parts), first - started, last - started, end - started


class RawModel:
    """Bare llama-cpp-python in this process, loaded as the kit's backend loads it."""

    def __init__(self, path: Path, threads: int) -> None:
        self.threads = threads
        self.llm = Llama(
            model_path=str(path),
            n_ctx=DEFAULT_CONTEXT_WINDOW,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        # As nbext.backends.embedded._load builds it: the GGUF's own chat template.
        self.formatter = Jinja2ChatFormatter(
            template=self.llm.metadata["tokenizer.chat_template"],
            eos_token=self.llm._model.token_get_text(self.llm.token_eos()),
            bos_token=self.llm._model.token_get_text(self.llm.token_bos()),
        )

    def render(self, messages: list[ChatCompletionMessageParam]) -> str:
        """The prompt EmbeddedBackend._render makes of ``messages`` (no tools)."""
        return self.formatter(messages=arguments_as_objects(list(messages))).prompt

    def count(self, text: str) -> int:
        """Tokens in ``text``, counted as the backend counts its usage."""
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def run(self, messages: list[ChatCompletionMessageParam], max_tokens: int) -> Run:
        prompt = self.render(messages)
        # Evaluate the whole prompt, as the server does for any prompt shorter
        # than one n_batch (512 tokens; see nbext.backends.embedded's module doc).
        self.llm.reset()
        started = time.perf_counter()
        stream = cast(
            Iterator[dict[str, Any]],
            self.llm.create_completion(prompt, max_tokens=max_tokens, temperature=0, stream=True),
        )
        pieces = (chunk["choices"][0]["text"] for chunk in stream)
        text, first, last, end = _timed(pieces, started)
        return Run(text, self.count(text), first, last - first, end, self.count(prompt))


def sdk_run(
    client: openai.OpenAI,
    counter: RawModel,
    messages: list[ChatCompletionMessageParam],
    max_tokens: int,
) -> Run:
    """The request through the server process and the SDK: ``create(stream=True)``."""
    usage: list[int] = []

    def pieces(stream: openai.Stream[ChatCompletionChunk]) -> Iterator[str]:
        for chunk in stream:
            if chunk.usage:
                usage.append(chunk.usage.prompt_tokens)
            for choice in chunk.choices:
                yield choice.delta.content or ""

    started = time.perf_counter()
    stream = client.chat.completions.create(
        model="default",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        temperature=0,
        max_tokens=max_tokens,
    )
    text, first, last, end = _timed(pieces(stream), started)
    return Run(text, counter.count(text), first, last - first, end, usage[-1] if usage else None)


def helper_run(
    client: openai.OpenAI,
    counter: RawModel,
    messages: list[ChatCompletionMessageParam],
    max_tokens: int,
) -> Run:
    """The same through the SDK's ``chat.completions.stream()`` helper, as ``%%chat`` does."""
    usage: list[int] = []

    def pieces() -> Iterator[str]:
        with client.chat.completions.stream(
            model="default",
            messages=messages,
            stream_options={"include_usage": True},
            temperature=0,
            max_tokens=max_tokens,
        ) as events:
            for event in events:
                if event.type == "content.delta" and event.delta:
                    yield event.delta
            try:
                completion = events.get_final_completion()
            except openai.LengthFinishReasonError as cut_short:
                completion = cut_short.completion
            if completion.usage:
                usage.append(completion.usage.prompt_tokens)

    started = time.perf_counter()
    text, first, last, end = _timed(pieces(), started)
    return Run(text, counter.count(text), first, last - first, end, usage[-1] if usage else None)


# -- statistics ---------------------------------------------------------------


def pct(values: list[float], q: int) -> float:
    """The q-th percentile (linear interpolation between closest ranks)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def order_of(names: list[str], i: int) -> list[str]:
    """Round ``i``'s order: rotated by one each round, reversed every other cycle."""
    shift = i % len(names)
    order = names[shift:] + names[:shift]
    return order[::-1] if (i // len(names)) % 2 else order


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` (all their threads), from /proc."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def with_cpu(run: Callable[[int], Run], server_pids: list[int]) -> Callable[[int], Run]:
    """``run``, noting the CPU time this process and the servers spent during it."""

    def timed(i: int) -> Run:
        client, servers = time.process_time(), cpu_seconds(server_pids)
        result = run(i)
        return dataclasses.replace(
            result,
            client_cpu_s=time.process_time() - client,
            server_cpu_s=cpu_seconds(server_pids) - servers,
        )

    return timed


def interleaved(
    rounds: int,
    variants: dict[str, Callable[[int], Run]],
) -> list[dict[str, Run]]:
    """``rounds`` runs of every variant, the order changing from round to round."""
    results: list[dict[str, Run]] = []
    names = list(variants)
    for i in range(rounds):
        results.append({name: variants[name](i) for name in order_of(names, i)})
    return results


class Nonces:
    """A fresh 6-digit number per round, its first digit unlike the previous round's.

    Every variant evaluates each prompt in full: raw resets its KV cache before
    each run, and the server reuses cached tokens only in whole 512-token
    batches, which these short prompts never fill. The number keeps the rounds
    apart anyway (a different story each round, every variant of a round on the
    same prompt), so no variant could profit from a cache it kept. Qwen
    tokenizes digits one by one, so every round's prompt has the same length.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lead = 0

    def next(self) -> str:
        self.lead = self.rng.choice([d for d in range(1, 10) if d != self.lead])
        return f"{self.lead}{self.rng.randrange(10**5):05d}"


def story(nonce: str) -> list[ChatCompletionMessageParam]:
    """The generation prompt of a round."""
    return [
        {"role": "system", "content": f"{nonce}: You are a helpful assistant."},
        {"role": "user", "content": STORY_PROMPT},
    ]


# -- the benchmarks -------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    metric: str
    raw: str
    server: str
    result: str
    goal: str
    ok: bool | None


@dataclass
class Bench:
    raws: dict[int, RawModel]
    client: openai.OpenAI
    server_threads: int
    home: Path
    settings: Settings
    diagnose: bool = False
    diagnosis: str = ""
    extra_homes: list[Path] = dataclasses.field(default_factory=list)
    passive: Settings | None = None

    def server_pids(self) -> list[int]:
        pids = []
        run_dirs = [self.settings.run_dir, *(home / "run" for home in self.extra_homes)]
        for state in (state for run in run_dirs for state in run.glob("server-*.json")):
            with contextlib.suppress(OSError, ValueError):
                pids.append(int(json.loads(state.read_text()).get("pid", 0)))
        return [p for p in pids if p]

    @property
    def counter(self) -> RawModel:
        return next(iter(self.raws.values()))

    def raw_variants(
        self, messages: Callable[[int], list[ChatCompletionMessageParam]], max_tokens: int
    ) -> dict[str, Callable[[int], Run]]:
        return {
            f"raw t={t}": (lambda i, m=model: m.run(messages(i), max_tokens))
            for t, model in self.raws.items()
        }


def bench_generation(bench: Bench, rounds: int, max_tokens: int) -> list[Row]:
    nonces = Nonces(20261130)
    prompts = [story(nonces.next()) for _ in range(rounds + 1)]
    expected_prompt = bench.counter.count(bench.counter.render(prompts[0]))
    variants = bench.raw_variants(lambda i: prompts[i], max_tokens)
    variants["server"] = lambda i: sdk_run(bench.client, bench.counter, prompts[i], max_tokens)
    variants["server, .stream() helper"] = lambda i: helper_run(
        bench.client, bench.counter, prompts[i], max_tokens
    )
    if bench.diagnose:
        variants.update(diagnostic_variants(bench, prompts, max_tokens))
    pids = bench.server_pids()
    variants = {name: with_cpu(run, pids) for name, run in variants.items()}
    for name in variants:  # warm-up: page in the weights, open the HTTP connection
        variants[name](rounds)
    results = interleaved(rounds, variants)
    bench.diagnosis = cpu_table(results)

    differing = sum(len({r.text for r in rnd.values()}) > 1 for rnd in results)
    if differing:
        print(f"  note: the variants' texts differ in {differing} of {rounds} rounds")
    short = {r.tokens for rnd in results for r in rnd.values() if r.tokens != max_tokens}
    if short:
        print(f"  note: some answers stopped early: {sorted(short)} of {max_tokens} tokens")
    seen = {r.prompt_tokens for rnd in results for r in rnd.values() if r.prompt_tokens}
    if seen != {expected_prompt}:
        print(f"  note: prompt lengths seen {sorted(seen)} != {expected_prompt}")

    raw_names = [f"raw t={t}" for t in bench.raws]

    def med(name: str, what: str) -> float:
        return statistics.median(getattr(rnd[name], what) for rnd in results)

    best = max(raw_names, key=lambda name: med(name, "gen_tps"))

    def ratio(name: str, what: str) -> float:
        return statistics.median(
            getattr(rnd[name], what) / getattr(rnd[best], what) for rnd in results
        )

    raws = " / ".join(f"{med(n, 'gen_tps'):.1f}" for n in raw_names)
    raws_e2e = " / ".join(f"{med(n, 'e2e_tps'):.1f}" for n in raw_names)
    threads = "/".join(str(t) for t in bench.raws)
    gen = ratio("server", "gen_tps")
    tokens = results[0]["server"].tokens
    return [
        Row(
            f"generation tok/s, first->last ({tokens} tok, n={rounds}); raw t={threads}",
            f"{raws} (best {best})",
            f"{med('server', 'gen_tps'):.1f}",
            f"ratio {gen:.3f} vs {best}",
            f">= {GEN_GOAL}",
            gen >= GEN_GOAL,
        ),
        Row(
            f"generation tok/s, end to end (prompt of {expected_prompt} tok evaluated)",
            raws_e2e,
            f"{med('server', 'e2e_tps'):.1f}",
            f"ratio {ratio('server', 'e2e_tps'):.3f} vs {best}",
            "(info)",
            None,
        ),
        Row(
            "generation tok/s, first->last, SDK .stream() helper (as %%chat)",
            "",
            f"{med('server, .stream() helper', 'gen_tps'):.1f}",
            f"ratio {ratio('server, .stream() helper', 'gen_tps'):.3f} vs {best}",
            "(info)",
            None,
        ),
    ]


def diagnostic_variants(
    bench: Bench, prompts: list[list[ChatCompletionMessageParam]], max_tokens: int
) -> dict[str, Callable[[int], Run]]:
    """Where the server's time goes: the path with one piece taken out at a time.

    - ``backend in-process``: ``EmbeddedBackend.stream()`` in this process at
      the server's thread count: the backend's own Python (chunk objects, tool
      call scanning) without HTTP, SSE or a second process;
    - ``httpx SSE, no SDK``: the server process read with plain httpx, lines
      split and ``json.loads``'d: HTTP and SSE without the SDK's parsing;
    - ``server, OMP_WAIT_POLICY=passive``: a second server whose OpenMP worker
      threads sleep instead of spinning when a decode ends, so they leave the
      core to the client between tokens.
    """
    import httpx

    from nbext.backends.embedded import EmbeddedBackend

    backend = EmbeddedBackend(
        bench.settings.model_dir, threads=bench.server_threads, progress=False
    )
    backend.load()

    def in_process(i: int) -> Run:
        request = {"messages": prompts[i], "max_tokens": max_tokens, "temperature": 0}
        started = time.perf_counter()
        chunks = backend.stream(request)  # type: ignore[arg-type]
        pieces = (c.choices[0].delta.content or "" for c in chunks if c.choices)
        text, first, last, end = _timed(pieces, started)
        return Run(text, bench.counter.count(text), first, last - first, end)

    key = local_server.server_key(bench.settings)
    base_url = str(bench.client.base_url).rstrip("/")
    http = httpx.Client(timeout=600, headers={"Authorization": f"Bearer {key}"})

    def plain_sse(i: int) -> Run:
        body = {
            "model": "default",
            "messages": prompts[i],
            "stream": True,
            "temperature": 0,
            "max_tokens": max_tokens,
        }

        def pieces() -> Iterator[str]:
            with http.stream("POST", f"{base_url}/chat/completions", json=body) as response:
                for line in response.iter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        for choice in json.loads(line[6:])["choices"]:
                            yield choice["delta"].get("content") or ""

        started = time.perf_counter()
        text, first, last, end = _timed(pieces(), started)
        return Run(text, bench.counter.count(text), first, last - first, end)

    passive_client = make_client(passive_server(bench), max_retries=0)

    return {
        "backend in-process": in_process,
        "httpx SSE, no SDK": plain_sse,
        "server, OMP_WAIT_POLICY=passive": lambda i: sdk_run(
            passive_client, bench.counter, prompts[i], max_tokens
        ),
    }


def passive_server(bench: Bench) -> Settings:
    """Settings of a server (default threads, own home) whose OpenMP threads never spin."""
    if bench.passive is None:
        home = bench_home("nbext-bench-omp-")
        bench.extra_homes.append(home)
        bench.passive = Settings.from_env({"NBEXT_HOME": str(home)})
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        try:
            local_server.ensure(bench.passive)  # the child inherits this environment
        finally:
            del os.environ["OMP_WAIT_POLICY"]
    return bench.passive


def cpu_table(results: list[dict[str, Run]]) -> str:
    """Per variant: speed and the CPU time client and servers spent per token."""
    lines = [
        "| variant | generation tok/s | wall ms/token | client CPU ms/token "
        "| server CPU ms/token |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in results[0]:
        runs = [rnd[name] for rnd in results]
        tps = statistics.median(r.gen_tps for r in runs)
        per_token = [r.total_s / r.tokens * 1000 for r in runs]
        client = [r.client_cpu_s / r.tokens * 1000 for r in runs]
        server = [r.server_cpu_s / r.tokens * 1000 for r in runs]
        lines.append(
            f"| {name} | {tps:.1f} | {statistics.median(per_token):.1f} "
            f"| {statistics.median(client):.1f} | {statistics.median(server):.1f} |"
        )
    return "\n".join(lines)


def bench_ttft(bench: Bench, rounds: int) -> list[Row]:
    """Server TTFT minus raw TTFT at the server's thread count, same prompt per round."""
    nonces = Nonces(20240601)
    prompts: list[list[ChatCompletionMessageParam]] = [
        [{"role": "user", "content": f"[{nonces.next()}] {SHORT_PROMPT}"}]
        for _ in range(rounds + 3)
    ]
    variants = bench.raw_variants(lambda i: prompts[i], 1)
    variants["server"] = lambda i: sdk_run(bench.client, bench.counter, prompts[i], 1)
    for i in range(3):  # warm-up
        for run in variants.values():
            run(rounds + i)
    results = interleaved(rounds, variants)
    lengths = {r.prompt_tokens for rnd in results for r in rnd.values()}
    if len(lengths) != 1:
        print(f"  note: prompt lengths varied: {sorted(x or 0 for x in lengths)} tokens")
    same = f"raw t={bench.server_threads}"
    if same not in results[0]:
        raise SystemExit(f"the server uses {bench.server_threads} threads; no raw model has that")
    added = [(rnd["server"].ttft_s - rnd[same].ttft_s) * 1000 for rnd in results]
    raw_ms = {n: [rnd[n].ttft_s * 1000 for rnd in results] for n in results[0] if n != "server"}
    srv_ms = [rnd["server"].ttft_s * 1000 for rnd in results]
    best = min(raw_ms, key=lambda n: pct(raw_ms[n], 50))
    vs_best = [(rnd["server"].ttft_s - rnd[best].ttft_s) * 1000 for rnd in results]
    p50 = pct(added, 50)
    tokens = min(x or 0 for x in lengths)
    raws50 = " / ".join(f"{pct(v, 50):.1f}" for v in raw_ms.values())
    raws90 = " / ".join(f"{pct(v, 90):.1f}" for v in raw_ms.values())
    threads = "/".join(str(t) for t in bench.raws)
    return [
        Row(
            f"TTFT p50, ms ({tokens}-token prompt, n={rounds}); raw t={threads}",
            raws50,
            f"{pct(srv_ms, 50):.1f}",
            f"+{p50:.1f} ms vs {same}",
            f"<= {TTFT_GOAL_MS:.0f} ms",
            p50 <= TTFT_GOAL_MS,
        ),
        Row(
            "TTFT p90, ms",
            raws90,
            f"{pct(srv_ms, 90):.1f}",
            f"+{pct(added, 90):.1f} ms vs {same}",
            "(info)",
            None,
        ),
        Row(
            "TTFT added vs the fastest raw, p50 / p90",
            best,
            "",
            f"+{pct(vs_best, 50):.1f} / +{pct(vs_best, 90):.1f} ms",
            "(info)",
            None,
        ),
    ]


CHAT_CELLS = ["%load_ext nbext", "%%chat --max-tokens 1 --temperature 0\nSay hello."]


def first_token_in_new_kernel(env: dict[str, str], log: Path) -> tuple[Kernel, float, float]:
    """Start a kernel, then time ``%load_ext`` + ``%%chat`` sent together to its first token."""
    kernel = Kernel(env, log)
    ids = [kernel.submit(code) for code in CHAT_CELLS]
    chat = kernel.wait(ids[-1], timeout=180)
    load = kernel.cells.pop(ids[0])
    if load.errors or chat.first_token_s is None:
        raise SystemExit(f"cold start: no token:\n{load.errors}{chat.errors}{chat.stderr}")
    # Both clocks start at their own submit; report from the first one.
    offset = chat.sent - load.sent
    return kernel, offset + chat.first_token_s, kernel.start_s


def bench_cold_start(runs: int) -> list[Row]:
    home = bench_home("nbext-bench-cold-")
    env = kit_environ(home)
    log = home / "kernels.log"
    first: list[float] = []
    second: list[float] = []
    kernel_start: list[float] = []
    try:
        for _ in range(runs):
            stop_servers(home)
            kernels: list[Kernel] = []
            try:
                kernel, seconds, started = first_token_in_new_kernel(env, log)
                kernels.append(kernel)
                first.append(seconds)
                kernel_start.append(started)
                kernel, seconds, started = first_token_in_new_kernel(env, log)
                kernels.append(kernel)
                second.append(seconds)
                kernel_start.append(started)
            finally:
                for kernel in kernels:
                    kernel.close()
    finally:
        stop_servers(home)
        shutil.rmtree(home, ignore_errors=True)

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} (range {min(values):.2f}-{max(values):.2f})"

    return [
        Row(
            f"cold start, %load_ext -> first token, s, no server (n={runs})",
            "",
            spread(first),
            f"kernel start before it {statistics.median(kernel_start):.2f} s",
            f"< {COLD_GOAL_S:.0f} s",
            statistics.median(first) < COLD_GOAL_S,
        ),
        Row(
            f"cold start, second kernel, server up, s (n={runs})",
            "",
            spread(second),
            "",
            f"< {WARM_GOAL_S:.0f} s",
            statistics.median(second) < WARM_GOAL_S,
        ),
    ]


BUSY_LOOP = """
import os, time
_t0 = time.perf_counter(); _n = 0
while time.perf_counter() - _t0 < {limit} and not os.path.exists({stop!r}):
    for _ in range(10000):
        _n += 1
print(_n / (time.perf_counter() - _t0))
"""


@dataclass
class ThreadRound:
    quiet: Run
    busy: Run
    busy_share: float
    """The busy kernel's loop speed during the generation / its speed alone."""
    pings_ms: list[float]


def bench_threads(bench: Bench, settings: Settings, rounds: int, max_tokens: int) -> str:
    """NBEXT_THREADS=1 vs 2: servers side by side, requests alternating between them."""
    configs = {
        "1": dataclasses.replace(settings, threads=1),
        "2": dataclasses.replace(settings, threads=2),
    }
    if bench.diagnose:  # its own server, started with OMP_WAIT_POLICY set (all cores: 2)
        configs["2, OMP_WAIT_POLICY=passive"] = passive_server(bench)
    clients = {}
    for label, config in configs.items():
        clients[label] = make_client(config, max_retries=0)  # starts the server
        sdk_run(clients[label], bench.counter, story("100000"), 8)  # warm-up
    env = kit_environ(bench.home)
    stop_file = bench.home / "stop-busy"
    chatting = Kernel(env, bench.home / "kernels.log")
    measured = Kernel(env, bench.home / "kernels.log")
    chatting.run("%load_ext nbext")
    measured.run("pass")
    nonces = Nonces(7)
    idle_rates: list[float] = []
    idle_pings: list[float] = []
    by_config: dict[str, list[ThreadRound]] = {label: [] for label in configs}
    try:
        for i in range(rounds):
            idle = measured.run(BUSY_LOOP.format(limit=2.0, stop=str(stop_file)))
            idle_rates.append(float(idle.text))
            for _ in range(20):
                idle_pings.append(measured.ping() * 1000)
                time.sleep(0.05)
            messages = story(nonces.next())
            for label in order_of(list(configs), i):
                quiet = sdk_run(clients[label], bench.counter, messages, max_tokens)
                busy_id = measured.submit(BUSY_LOOP.format(limit=600, stop=str(stop_file)))
                time.sleep(0.2)
                busy = sdk_run(clients[label], bench.counter, messages, max_tokens)
                stop_file.touch()
                rate = float(measured.wait(busy_id).text)
                stop_file.unlink()
                # %%chat follows these variables to the matching server.
                config = configs[label]
                chatting.run(
                    f"import os; os.environ['NBEXT_HOME'] = {str(config.home)!r}; "
                    f"os.environ['NBEXT_THREADS'] = '{config.threads or ''}'"
                )
                chat_id = chatting.submit(
                    f"%%chat --max-tokens {max_tokens} --temperature 0 "
                    f"--system '{nonces.next()}: You are a helpful assistant.'\n{STORY_PROMPT}"
                )
                while chatting.cells[chat_id].first_token_s is None and not chatting.done(chat_id):
                    chatting.poll(timeout=0.05)
                pings: list[float] = []
                while not chatting.done(chat_id):
                    pings.append(measured.ping() * 1000)
                    measured.poll()
                    time.sleep(0.05)
                    chatting.poll()
                chat = chatting.wait(chat_id)
                if chat.first_token_s is None:
                    raise SystemExit(f"threads: %%chat drew nothing: {chat.stderr}")
                by_config[label].append(ThreadRound(quiet, busy, rate / idle_rates[-1], pings))
            print(f"  round {i + 1}/{rounds} done", flush=True)
    finally:
        chatting.close()
        measured.close()

    lines = [
        "| server threads | generation tok/s, quiet | generation tok/s, a kernel busy "
        "| busy kernel's loop speed during it (vs alone) | ping p50 / p90 ms during a %%chat |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, runs in by_config.items():
        pings = [p for r in runs for p in r.pings_ms]
        lines.append(
            f"| {label} | {statistics.median(r.quiet.gen_tps for r in runs):.1f} "
            f"| {statistics.median(r.busy.gen_tps for r in runs):.1f} "
            f"| {statistics.median(r.busy_share for r in runs):.2f} "
            f"| {pct(pings, 50):.1f} / {pct(pings, 90):.1f} |"
        )
    lines.append("")
    ratios = []
    for label in list(configs)[1:]:
        pairs = list(zip(by_config[label], by_config["1"], strict=True))
        quiet_ratio = statistics.median(a.quiet.gen_tps / b.quiet.gen_tps for a, b in pairs)
        busy_ratio = statistics.median(a.busy.gen_tps / b.busy.gen_tps for a, b in pairs)
        ratios.append(f"{label}: quiet {quiet_ratio:.2f}, kernel busy {busy_ratio:.2f}")
    lines.append(
        f"Generation vs 1 thread (median of per-round ratios): {'; '.join(ratios)}. "
        f"Idle kernel: ping p50 / p90 {pct(idle_pings, 50):.1f} / {pct(idle_pings, 90):.1f} ms; "
        f"n={rounds} rounds, {max_tokens} tokens."
    )
    return "\n".join(lines)


# -- report -------------------------------------------------------------------


def server_status(base_url: str, key: str) -> dict[str, Any]:
    request = urllib.request.Request(
        base_url.rstrip("/") + "/nbext/status", headers={"Authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def process_facts(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        threads = next(
            x.split()[1]
            for x in Path(f"/proc/{pid}/status").read_text().splitlines()
            if x.startswith("Threads:")
        )
    except (OSError, StopIteration):
        return ""
    return f"nice {stat[16]}, {threads} OS threads"


def machine() -> list[str]:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        cpu = next((x.split(":", 1)[1].strip() for x in info if x.startswith("model name")), cpu)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"date      {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine   {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}, "
        f"{platform.system()} {platform.release()}",
        f"versions  python {platform.python_version()}, llama_cpp {version('llama_cpp_python')}, "
        f"openai {version('openai')}, nbext {version('nbext')}",
        f"load avg  {load} (1/5/15 min, at start)",
    ]


def table(rows: list[Row]) -> str:
    header = Row("metric", "raw llama.cpp", "server + SDK", "server vs raw", "goal", None)
    verdict = {None: "", True: "ok", False: "MISS"}
    cells = [[r.metric, r.raw, r.server, r.result, r.goal, verdict[r.ok]] for r in [header, *rows]]
    cells[0][5] = "met?"
    widths = [max(len(c[i]) for c in cells) for i in range(6)]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["generation", "ttft", "cold", "threads"]
    )
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="generation: also the backend in-process, plain httpx SSE and a server with "
        "OMP_WAIT_POLICY=passive (where the server's time goes)",
    )
    args = parser.parse_args()
    if args.quick:
        gen_rounds, ttft_rounds, cold_runs, thread_rounds, tokens = 2, 6, 1, 1, 32
    else:
        gen_rounds, ttft_rounds, cold_runs, thread_rounds, tokens = 12, 30, 5, 4, MAX_TOKENS

    print("\n".join(machine()))
    home = bench_home("nbext-bench-chat-")
    for name in KIT_VARIABLES:
        os.environ.pop(name, None)
    os.environ["NBEXT_HOME"] = str(home)
    settings = Settings.from_env()
    started = time.perf_counter()
    rows: list[Row] = []
    threads_table = ""
    bench: Bench | None = None
    try:
        info = local_server.ensure(settings)
        client = make_client(settings, max_retries=0)
        status = server_status(info.base_url, local_server.server_key(settings))
        server_threads = int(status.get("threads") or len(os.sched_getaffinity(0)))
        served = settings.model_dir / find_model(settings.embedded().model).gguf_name
        raws = {t: RawModel(served, t) for t in RAW_THREADS}
        print(
            f"server    pid {info.pid} ({process_facts(info.pid)}), llama.cpp threads "
            f"{status.get('threads', '? (not reported)')}, {info.base_url}; raw models in this "
            f"process at n_threads = n_threads_batch = {', '.join(map(str, raws))}"
        )
        bench = Bench(raws, client, server_threads, home, settings, args.diagnose)
        if "generation" not in args.skip:
            print(f"[1/4] generation, {gen_rounds} interleaved rounds of {tokens} tokens ...")
            rows += bench_generation(bench, gen_rounds, tokens)
        if "ttft" not in args.skip:
            print(f"[2/4] time to first token, {ttft_rounds} interleaved rounds ...", flush=True)
            rows += bench_ttft(bench, ttft_rounds)
        if "cold" not in args.skip:
            print(f"[3/4] cold start, {cold_runs} x (first kernel, second kernel) ...", flush=True)
            rows += bench_cold_start(cold_runs)
        if "threads" not in args.skip:
            print(f"[4/4] server threads 1 vs 2, {thread_rounds} rounds ...", flush=True)
            threads_table = bench_threads(bench, settings, thread_rounds, tokens)
    finally:
        for path in [home, *(bench.extra_homes if bench else [])]:
            stop_servers(path)
            shutil.rmtree(path, ignore_errors=True)

    if rows:
        print()
        print(table(rows))
    if bench and bench.diagnosis:
        print()
        print("CPU time per token (generation rounds; client = this process):")
        print(bench.diagnosis)
    if threads_table:
        print()
        print(threads_table)
    print()
    print(
        "Notes: medians; ratios and added TTFT are medians of per-round values (variants "
        "interleaved, order rotated).\n"
        "Every variant evaluates every prompt in full (raw: KV cache reset before each run; "
        "server: prompts under 512 tokens are never reused from its cache).\n"
        f"Load avg at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"benchmark took {time.perf_counter() - started:.0f} s."
    )


if __name__ == "__main__":
    main()
