"""Assistants runtime speed: what nbext's own code costs per run, with an instant model.

    .venv/bin/python benchmarks/bench_assistants.py           # full run (~3-5 min)
    .venv/bin/python benchmarks/bench_assistants.py --quick   # smoke run (< 60 s)

Every run here talks to :class:`InstantBackend`, a benchmark fixture defined
below that answers at once with a fixed short text (a few chunks plus usage)
and counts tokens as words. The model therefore costs ~nothing and only the
runtime, the store, the HTTP layer and the SDK are timed. Why: a real model
takes seconds, so overhead that would hide behind it in a notebook still
decides how many runs a shared workshop server can carry.

1. **Overhead per run, create -> completed.** In-process
   :class:`AssistantsService` on a SQLite file (WAL) in a temp dir. Each run
   gets a fresh thread holding one user message (created outside the clock);
   the clock runs from ``create_run`` until the ``thread.run.completed``
   event arrives through :meth:`AssistantsService.subscribe` (event-driven,
   no polling). Interleaved with two informational HTTP variants on a
   second in-process server (same kind of DB): the official SDK's
   ``runs.create_and_poll(poll_interval_ms=2)`` and ``runs.create(stream=True)``.
2. **Run start vs thread length.** Time from ``create_run`` until the backend's
   ``stream()`` is entered, on a thread of 10 messages and one of 10,000,
   interleaved. The goal row sends the same 10 newest messages in both cases
   (``truncation_strategy: last_messages=10``), so the only difference is the
   thread's length: cached per-message token counts should make it nearly free.
   An informational row uses the default ``auto`` truncation with a 32,768
   token window, where the long thread sends a full window of messages. The
   reply each run adds is deleted afterwards so thread sizes stay fixed.
3. **50 concurrent runs through ``nbext serve``.** A real subprocess
   (``python -m nbext.cli serve``) on a temp SQLite DB, whose backend is an
   OpenAI-compatible chat server in this process serving the instant backend.
   50 threads of one user message each get one ``create_and_poll`` each, fired
   together from a 50-thread pool; then every run's status and every thread's
   messages (exactly: the user's and the answer) are checked.

The machine is shared and noisy: variants run interleaved in one process
(order rotated every round) and percentiles, not means, are reported.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import sqlalchemy
from openai.types import CompletionUsage, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from nbext.api.services import AssistantsService
from nbext.backends.base import ChatBackend, ChatRequest, TokenCounting
from nbext.engine.events import FINAL_EVENTS
from nbext.server.app import create_app
from nbext.server.runner import BackgroundServer
from nbext.store import Store

warnings.filterwarnings("ignore", category=DeprecationWarning)  # client.beta.* is deprecated

OWNER = "local"  # the owner a keyless local server uses
REPLY = "The answer is forty-two, as always."
PER_MESSAGE = 4
SDK_POLL_MS = 2
SERVE_POLL_MS = 20


# -- the benchmark fixture: a model that costs nothing ---------------------------------------


def _words(content: Any) -> int:
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        return sum(len(str(part.get("text", "")).split()) for part in content)
    return 0


class InstantBackend:
    """BENCHMARK FIXTURE: a ChatBackend that answers :data:`REPLY` instantly.

    Tokens are words plus four per message (cheap, no tokenizer). ``calls``
    records ``time.perf_counter()`` at the entry of every ``stream``/``create``
    so a benchmark can tell when the runtime reached the model.
    """

    def __init__(self, context_window: int = 32_768) -> None:
        self.calls: list[float] = []
        self._context_window = context_window
        pieces = [(" " if i else "") + w for i, w in enumerate(REPLY.split())]
        deltas: list[dict[str, Any]] = [{"role": "assistant"}]
        deltas += [{"content": p} for p in pieces]
        self._chunks = [_chunk(d) for d in deltas] + [_chunk({}, "stop")]
        self._completion_tokens = len(pieces)

    @property
    def default_model(self) -> str:
        return "instant"

    @property
    def context_window(self) -> int:
        return self._context_window

    @property
    def description(self) -> str:
        return "instant benchmark backend"

    def list_models(self) -> list[Model]:
        return [Model(id="instant", object="model", created=0, owned_by="bench")]

    @property
    def token_counting(self) -> TokenCounting:
        return "tokenizer"

    def count_tokens(self, messages: Sequence[Any], tools: Sequence[Any] | None = None) -> int:
        return sum(PER_MESSAGE + _words(m.get("content")) for m in messages)

    def _usage(self, request: ChatRequest) -> CompletionUsage:
        prompt = self.count_tokens(list(request["messages"]))
        return CompletionUsage(
            prompt_tokens=prompt,
            completion_tokens=self._completion_tokens,
            total_tokens=prompt + self._completion_tokens,
        )

    def stream(self, request: ChatRequest) -> Iterator[ChatCompletionChunk]:
        self.calls.append(time.perf_counter())
        yield from self._chunks
        yield ChatCompletionChunk(
            id="chatcmpl-instant",
            object="chat.completion.chunk",
            created=0,
            model="instant",
            choices=[],
            usage=self._usage(request),
        )

    def create(self, request: ChatRequest) -> ChatCompletion:
        self.calls.append(time.perf_counter())
        return ChatCompletion.model_validate(
            {
                "id": "chatcmpl-instant",
                "object": "chat.completion",
                "created": 0,
                "model": "instant",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": REPLY},
                        "finish_reason": "stop",
                    }
                ],
                "usage": self._usage(request).model_dump(),
            }
        )


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(
        {
            "id": "chatcmpl-instant",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "instant",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
    )


# -- helpers -------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linearly interpolated."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


SUBSCRIBE_RACES: list[str] = []
"""Runs whose ``subscribe`` ended on a non-final status although the run had ended."""


def wait_final(service: AssistantsService, thread_id: str, run_id: str) -> str:
    """Block on the run's event stream until its final event; returns that event's name.

    ``subscribe`` reads the run before it looks for the run's channel, so when
    the worker ends the run in between it yields the stale ``queued`` status
    and stops. Then (and only then) this falls back to polling ``runs.retrieve``
    and records the run in :data:`SUBSCRIBE_RACES`.
    """
    last = ""
    for event in service.runs.subscribe(OWNER, thread_id, run_id):
        last = event.event
        if last in FINAL_EVENTS:
            return last
    SUBSCRIBE_RACES.append(run_id)
    while True:
        status = service.runs.retrieve(OWNER, thread_id, run_id).status
        if f"thread.run.{status}" in FINAL_EVENTS:
            return f"thread.run.{status}"
        time.sleep(0.0001)


def nodelay(server: BackgroundServer) -> BackgroundServer:
    """Set TCP_NODELAY on the listening socket (accepted sockets inherit it on Linux).

    ``BackgroundServer`` creates its socket without ``IPPROTO_TCP`` (proto 0),
    so asyncio's ``_set_nodelay`` skips the accepted connections and Nagle +
    delayed ACK add ~40 ms to every small non-streamed response. This is the
    proposed fix for ``nbext/server/runner.py``, applied from outside.
    """
    server._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return server


def new_service(path: Path, backend: ChatBackend) -> tuple[AssistantsService, Store, str]:
    store = Store(f"sqlite:///{path}")
    service = AssistantsService(store, backend)
    assistant = service.assistants.create(
        OWNER, {"model": "instant", "instructions": "You are a benchmark."}
    )
    return service, store, assistant.id


@dataclass
class Row:
    metric: str
    result: str
    goal: str = "(info)"
    ok: bool | None = None


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, metric: str, result: str, goal: str = "(info)", ok: bool | None = None) -> None:
        self.rows.append(Row(metric, result, goal, ok))
        print(f"  {metric}: {result}", flush=True)

    def table(self) -> str:
        head = ["metric", "result", "goal", "ok"]
        body = [
            [r.metric, r.result, r.goal, "" if r.ok is None else ("ok" if r.ok else "MISS")]
            for r in self.rows
        ]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)


# -- 1. overhead per run -------------------------------------------------------------------


def bench_overhead(tmp: Path, runs: int, report: Report) -> None:
    print(f"[1] overhead per run, create -> completed ({runs} runs per variant)", flush=True)
    service, store, assistant_id = new_service(tmp / "overhead.sqlite3", InstantBackend())
    user = {"role": "user", "content": "What is the answer?"}
    shipped = BackgroundServer(
        create_app(InstantBackend(), db_url=f"sqlite:///{tmp / 'overhead-http.sqlite3'}")
    ).start()
    fixed = nodelay(
        BackgroundServer(
            create_app(InstantBackend(), db_url=f"sqlite:///{tmp / 'overhead-http2.sqlite3'}")
        )
    ).start()

    def in_process() -> tuple[float, str]:
        thread = service.threads.create(OWNER, {"messages": [user]})
        start = time.perf_counter()
        run = service.runs.create(OWNER, thread.id, {"assistant_id": assistant_id})
        final = wait_final(service, thread.id, run.id)
        return time.perf_counter() - start, final.removeprefix("thread.run.")

    def http_variants(server: BackgroundServer) -> list[Callable[[], tuple[float, str]]]:
        client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        assistant = client.beta.assistants.create(model="instant", instructions="Benchmark.")

        def sdk_poll() -> tuple[float, str]:
            thread = client.beta.threads.create(messages=[user])  # type: ignore[list-item]
            start = time.perf_counter()
            run = client.beta.threads.runs.create_and_poll(
                thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=SDK_POLL_MS
            )
            return time.perf_counter() - start, run.status

        def sdk_stream() -> tuple[float, str]:
            thread = client.beta.threads.create(messages=[user])  # type: ignore[list-item]
            start = time.perf_counter()
            elapsed, status = 0.0, "no final event"
            stream = client.beta.threads.runs.create(
                thread_id=thread.id, assistant_id=assistant.id, stream=True
            )
            for event in stream:
                if event.event in FINAL_EVENTS:
                    elapsed = time.perf_counter() - start
                    status = event.event.removeprefix("thread.run.")
            return elapsed, status

        return [sdk_poll, sdk_stream]

    poll, stream = http_variants(shipped)
    poll_fixed, stream_fixed = http_variants(fixed)
    variants: dict[str, Callable[[], tuple[float, str]]] = {
        "in-process": in_process,
        f"HTTP+SDK create_and_poll(poll_interval_ms={SDK_POLL_MS})": poll,
        "HTTP+SDK runs.create(stream=True)": stream,
        f"HTTP+SDK create_and_poll(poll_interval_ms={SDK_POLL_MS}), TCP_NODELAY fix": poll_fixed,
        "HTTP+SDK runs.create(stream=True), TCP_NODELAY fix": stream_fixed,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    statuses: dict[str, Counter[str]] = {name: Counter() for name in variants}
    names = list(variants)
    for _ in range(5):  # warm-up: imports, first connections, SQLite caches
        for fn in variants.values():
            fn()
    for i in range(runs):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            elapsed, status = variants[name]()
            times[name].append(elapsed)
            statuses[name][status] += 1
    shipped.stop()
    fixed.stop()
    service.close()
    store.close()

    t = times["in-process"]
    done = statuses["in-process"]["completed"]
    report.add(
        "1. in-process run, create->completed (subscribe), p50",
        f"{ms(pct(t, 50))} ({done}/{runs} completed)",
        "<= 5 ms",
        pct(t, 50) <= 0.005 and done == runs,
    )
    report.add(
        "1. in-process run, create->completed (subscribe), p99",
        f"{ms(pct(t, 99))} (max {ms(max(t))})",
        "<= 25 ms",
        pct(t, 99) <= 0.025,
    )
    report.add(
        "1. subscribe() ended on a stale non-final status (race)",
        f"{len(SUBSCRIBE_RACES)} of {sum(statuses['in-process'].values())} in-process runs",
    )
    for name in names[1:]:
        v = times[name]
        report.add(
            f"1. {name}, p50 / p99",
            f"{ms(pct(v, 50))} / {ms(pct(v, 99))} "
            f"({statuses[name]['completed']}/{runs} completed; "
            f"{pct(v, 50) / pct(t, 50):.1f}x in-process p50)",
        )


# -- 2. run start vs thread length ------------------------------------------------------------


def bench_long_thread(tmp: Path, long_n: int, rounds: int, report: Report) -> None:
    print(f"[2] run start: thread of {long_n} vs 10 messages ({rounds} rounds)", flush=True)
    backend = InstantBackend()
    service, store, assistant_id = new_service(tmp / "long.sqlite3", backend)

    def build(n: int) -> tuple[str, float]:
        thread = service.threads.create(OWNER)
        start = time.perf_counter()
        for i in range(n):
            role = "user" if (n - 1 - i) % 2 == 0 else "assistant"  # ends with the user
            text = f"Message {i}: the quick brown fox jumps over the lazy dog."
            service.messages.create(OWNER, thread.id, {"role": role, "content": text})
        return thread.id, time.perf_counter() - start

    short_id, _ = build(10)
    long_id, build_s = build(long_n)
    report.add(
        f"2. building the {long_n:,}-message thread (create_message each)",
        f"{build_s:.1f} s ({build_s / long_n * 1000:.2f} ms/message)",
    )

    last10 = {"type": "last_messages", "last_messages": 10}
    variants: dict[str, tuple[str, dict[str, Any]]] = {
        "10 msgs, auto": (short_id, {}),
        f"{long_n:,} msgs, last_messages=10": (long_id, {"truncation_strategy": last10}),
        f"{long_n:,} msgs, auto (32k window)": (long_id, {}),
    }
    first_call: dict[str, list[float]] = {name: [] for name in variants}
    total: dict[str, list[float]] = {name: [] for name in variants}
    sent: dict[str, int] = {}

    def one(name: str) -> None:
        thread_id, extra = variants[name]
        calls = len(backend.calls)
        start = time.perf_counter()
        run = service.runs.create(OWNER, thread_id, {"assistant_id": assistant_id, **extra})
        final = wait_final(service, thread_id, run.id)
        end = time.perf_counter()
        if final != "thread.run.completed" or len(backend.calls) != calls + 1:
            raise RuntimeError(
                f"{name}: run ended {final} after {len(backend.calls) - calls} calls"
            )
        first_call[name].append(backend.calls[-1] - start)
        total[name].append(end - start)
        sent[name] = len(service.runs.context(OWNER, thread_id, run.id).sent_message_ids)
        for message in service.messages.list(OWNER, thread_id, run_id=run.id).data:
            service.messages.delete(OWNER, thread_id, message.id)  # keep the thread's size

    names = list(variants)
    for name in names:  # warm-up
        one(name)
    for name in names:
        first_call[name].clear()
        total[name].clear()
    for i in range(rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            one(name)
    service.close()
    store.close()

    base = statistics.median(first_call[names[0]])
    for name in names:
        p50 = statistics.median(first_call[name])
        to_completed = ms(statistics.median(total[name]))
        report.add(
            f"2. create_run -> first model call, {name}, p50",
            f"{ms(p50)} (sends {sent[name]} msgs; to completed {to_completed})",
        )
    ratio = statistics.median(first_call[names[1]]) / base
    report.add(
        f"2. ratio {long_n:,} / 10 messages (same 10 sent), p50",
        f"{ratio:.2f}x",
        "<= 2",
        ratio <= 2,
    )
    full = statistics.median(first_call[names[2]]) / base
    report.add(f"2. ratio {long_n:,} (auto, full window) / 10 messages, p50", f"{full:.1f}x")


# -- 3. concurrent runs through `nbext serve` -------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nbext serve exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nbext serve did not answer {url} within {timeout:.0f} s")


def bench_serve(tmp: Path, n: int, report: Report) -> None:
    print(f"[3] {n} concurrent runs on {n} threads through `nbext serve`", flush=True)
    # The model stand-in gets the TCP_NODELAY fix too: it is not what is measured here.
    chat = nodelay(BackgroundServer(create_app(InstantBackend()))).start()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBEXT_")}
    env |= {
        "NBEXT_HOME": str(tmp / "serve-home"),
        "NBEXT_DB_URL": f"sqlite:///{tmp / 'serve.sqlite3'}",
        "NBEXT_BACKEND_URL": chat.base_url,
        "NBEXT_MODEL": "instant",
    }
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbext.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", proc)
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=120
        )
        assistant = client.beta.assistants.create(model="instant", instructions="Benchmark.")
        user = {"role": "user", "content": "What is the answer?"}
        with ThreadPoolExecutor(max_workers=n) as pool:
            threads = list(
                pool.map(lambda _: client.beta.threads.create(messages=[user]).id, range(n))  # type: ignore[list-item]
            )

            def run(thread_id: str) -> tuple[str, float]:
                start = time.perf_counter()
                try:
                    result = client.beta.threads.runs.create_and_poll(
                        thread_id=thread_id,
                        assistant_id=assistant.id,
                        poll_interval_ms=SERVE_POLL_MS,
                    )
                except openai.OpenAIError as error:
                    return f"error: {type(error).__name__}", time.perf_counter() - start
                return result.status, time.perf_counter() - start

            start = time.perf_counter()
            results = list(pool.map(run, threads))
            wall = time.perf_counter() - start
        statuses = Counter(status for status, _ in results)
        latencies = [elapsed for _, elapsed in results]
        bad_threads = 0
        for thread_id in threads:
            messages = client.beta.threads.messages.list(thread_id=thread_id, order="asc").data
            roles = [m.role for m in messages]
            answer = messages[-1].content[0] if messages else None
            text = answer.text.value if answer is not None and answer.type == "text" else None
            if roles != ["user", "assistant"] or text != REPLY:
                bad_threads += 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        chat.stop()

    completed = statuses.get("completed", 0)
    by_status = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    report.add(
        f"3. {n} concurrent runs via `nbext serve`: statuses",
        f"{by_status}",
        f"all {n} completed",
        completed == n,
    )
    report.add(
        "3. threads with exactly [user, assistant] messages",
        f"{n - bad_threads}/{n} (lost/extra/wrong: {bad_threads})",
        "nothing lost",
        bad_threads == 0,
    )
    report.add(
        f"3. wall time, throughput (create_and_poll, poll {SERVE_POLL_MS} ms)",
        f"{wall:.2f} s, {n / wall:.1f} runs/s "
        f"(per run p50 {pct(latencies, 50):.2f} s, max {max(latencies):.2f} s)",
    )


# -- main ------------------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run, under a minute")
    args = parser.parse_args()
    runs, long_n, rounds, concurrent = (40, 1_000, 8, 50) if args.quick else (300, 10_000, 30, 50)

    print(
        f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
        f"{os.cpu_count()} CPUs ({_cpu_model()}), {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, openai {openai.__version__}, "
        f"SQLAlchemy {sqlalchemy.__version__}, SQLite {__import__('sqlite3').sqlite_version}"
    )
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    report = Report()
    tmp = Path(tempfile.mkdtemp(prefix="nbext-bench-assistants-"))
    started = time.perf_counter()
    try:
        bench_overhead(tmp, runs, report)
        bench_long_thread(tmp, long_n, rounds, report)
        bench_serve(tmp, concurrent, report)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"total {time.perf_counter() - started:.0f} s\n")
    print(report.table())
    sys.exit(0 if all(r.ok is not False for r in report.rows) else 1)


if __name__ == "__main__":
    main()
