"""The embedded models side by side: speed, load time, memory, and a tutorial's wall time.

Issue 11 asks of whatever model is the default: generation >= 10 tokens/s on 2
cores and every tutorial under 90 s. This script measures each catalogue model
(:mod:`nbext.backends.models`) whose chunk packages are installed, in one run:

1. **Speed, load, memory** (the kit's own backend, in-process, on the llama.cpp
   build of this venv). One child process per model and thread count (1 and 2,
   ``n_threads = n_threads_batch``) builds ``EmbeddedBackend(model=..., threads=t)``
   exactly as the server does (n_ctx 32,768, n_batch 128, GOMP_SPINCOUNT 1000)
   and reports the time ``load()`` takes (the file is assembled beforehand, so
   this is llama.cpp loading it) and its RSS after loading. Then, in
   interleaved rounds (every child once per round, the order rotated and
   reversed every other cycle; the machine is shared and noisy):

   - **prompt tokens/s**: KV cache cleared, ``llm.eval`` of a 446-token prompt;
   - **generation tokens/s**: KV cache cleared, ``backend.stream`` of a story
     request (``max_tokens=128``, temperature 0), from the first token to the
     last (n tokens, n - 1 gaps), so prompt processing is left out.

   Medians over rounds; peak RSS (VmHWM) at the end.
2. **A tutorial run**: per model, a local server (``python -m nbext.server.local``,
   started as a kernel starts it, with ``NBEXT_MODEL``) and the run notebook 07
   teaches: an assistant with code_interpreter asked for the 20th Fibonacci
   number, ``tool_choice`` forced as in the notebook, and the same with
   ``tool_choice`` left at ``auto``. Wall time of ``create_and_poll``, model
   calls, tokens, and whether the answer holds 6765.
3. ``--notebooks``: every tutorial (``notebooks/0*.ipynb``) run under nbclient
   (JupyterLab's "Run all") per model, with its server already up. Each
   notebook asks ``nbext.client.model_id(client)`` for its model, so the
   kernel's ``NBEXT_MODEL`` chooses it. With ``--prefix-cache``, each size
   (``NBEXT_PREFIX_CACHE``) gets its own server, and the sizes take turns
   notebook by notebook.

Every server and kernel lives in a fresh temporary ``NBEXT_HOME`` whose
``models`` is a symlink to ``~/.cache/nbext/models`` (``bench_home``), kit
variables unset; every server started is stopped at the end.

Usage::

    python benchmarks/bench_models.py               # 1 and 2 (about 15 minutes)
    python benchmarks/bench_models.py --notebooks   # + every tutorial per model
    python benchmarks/bench_models.py --notebooks 03 05 06 07   # + these tutorials
    python benchmarks/bench_models.py --quick       # smoke: 2 rounds, 32 tokens
    python benchmarks/bench_models.py --skip-speed --notebooks 05 07 --prefix-cache 0 128M
        # the prefix cache off and on, side by side (parts 2 and 3)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import openai
from bench_kernels import bench_home, kit_environ, stop_servers
from bench_portability import LONG_TEXT, STORY_PROMPT, chatml, cpu_line, simd_flags
from measuring_child import MeasuringChild

from nbext import local_server
from nbext.backends.model_file import ensure_model_file
from nbext.backends.models import CATALOGUE, EmbeddedModel
from nbext.client import quiet_assistants_deprecation
from nbext.config import Settings
from nbext.protocol import run_prompts_path

ROOT = Path(__file__).resolve().parent.parent
THREADS = (1, 2)
MAX_TOKENS = 128
FIBONACCI = (
    "What is the 20th Fibonacci number? Use code: define fibonacci(n), then print(fibonacci(20))."
)
CODER_INSTRUCTIONS = (
    "You are a helpful assistant. Use the code_interpreter tool to compute answers and "
    "print the result."
)

CHILD = r"""
import json, sys, time
from pathlib import Path
from nbext.backends.embedded import EmbeddedBackend
from nbext.config import Settings

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0

model, threads = sys.argv[1], int(sys.argv[2])
backend = EmbeddedBackend(Settings.from_env().model_dir, model=model, threads=threads,
                          progress=False)
started = time.perf_counter()
loaded = backend.load()
load_s = time.perf_counter() - started
llm = loaded.llm
print(json.dumps({"ready": {"load_s": load_s, "rss": status("VmRSS"),
                            "n_batch": llm.n_batch, "n_ctx": llm.n_ctx()}}), flush=True)

def tokens(text):
    return llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

for line in sys.stdin:
    request = json.loads(line)
    long = tokens(request["long"])
    llm.reset()
    started = time.perf_counter()
    llm.eval(long)
    prompt_s = time.perf_counter() - started

    llm.reset()
    parts, first, last = [], None, None
    started = time.perf_counter()
    for chunk in backend.stream({"messages": request["messages"], "temperature": 0,
                                 "max_tokens": request["max_tokens"]}):
        text = "".join(choice.delta.content or "" for choice in chunk.choices)
        if text:
            now = time.perf_counter()
            first = now if first is None else first
            last = now
            parts.append(text)
    end = time.perf_counter()
    text = "".join(parts)
    print(json.dumps({
        "prompt_tokens": len(long), "prompt_s": prompt_s,
        "gen_tokens": len(tokens(text)), "first_to_last_s": (last or end) - (first or end),
        "peak_rss": status("VmHWM"), "text": text,
    }), flush=True)
"""
"""One model at one thread count, measuring on request (one JSON line in, one out)."""


@dataclass
class SpeedChild(MeasuringChild):
    model: EmbeddedModel
    threads: int
    env: dict[str, str]

    @property
    def name(self) -> str:
        return f"{self.model.id}/t{self.threads}"

    def start(self) -> None:
        self.spawn([sys.executable, "-c", CHILD, self.model.id, str(self.threads)], self.env)


def measure_speed(
    models: list[EmbeddedModel], home: Path, rounds: int, max_tokens: int
) -> list[SpeedChild]:
    env = kit_environ(home)
    children = [SpeedChild(m, t, env) for m in models for t in THREADS]
    for child in children:
        child.start()
        state = child.failure or (
            f"loaded in {child.facts['load_s']:.2f} s, RSS {child.facts['rss'] / 2**20:.0f} MiB"
        )
        print(f"  {child.name:34} {state}", flush=True)
    long_prompt = chatml("You are a helpful assistant.", "Summarise this text.\n" + LONG_TEXT * 5)
    rng = random.Random(20261130)
    live = [c for c in children if not c.failure]
    for i in range(rounds):
        # A fresh number up front: rounds differ, every child of a round gets the same.
        nonce = f"{rng.randrange(1, 10)}{rng.randrange(10**5):05d}"
        request = {
            "long": long_prompt,
            "messages": [
                {"role": "system", "content": f"{nonce}: You are a helpful assistant."},
                {"role": "user", "content": STORY_PROMPT},
            ],
            "max_tokens": max_tokens,
        }
        shift = i % len(live)
        order = live[shift:] + live[:shift]
        if (i // len(live)) % 2:
            order.reverse()
        for child in order:
            result = child.ask(request)
            if result is None:
                print(f"  {child.name} died in round {i + 1}: {child.failure}")
                continue
            child.results.append(result)
        live = [c for c in live if not c.failure]
        print(f"  round {i + 1}/{rounds} done", flush=True)
    for child in children:
        child.stop()
    return children


def speed_table(children: list[SpeedChild], max_tokens: int) -> str:
    lines = [
        "| model | threads | load s | RSS after load | peak RSS | prompt tok/s | "
        "generation tok/s | tokens generated |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in children:
        if c.failure or not c.results:
            lines.append(f"| {c.model.id} | {c.threads} | failed: {c.failure} ||||||")
            continue
        peak = max(r["peak_rss"] for r in c.results)
        made = ", ".join(str(n) for n in sorted({r["gen_tokens"] for r in c.results}))
        lines.append(
            f"| {c.model.id} | {c.threads} | {c.facts['load_s']:.2f} "
            f"| {c.facts['rss'] / 2**20:.0f} MiB | {peak / 2**20:.0f} MiB "
            f"| {c.median('prompt'):.1f} | {c.median('gen'):.1f} | {made} |"
        )
    lines.append("")
    lines.append(
        f"Medians over {len(children[0].results)} interleaved rounds; prompt: a "
        f"{children[0].results[0]['prompt_tokens'] if children[0].results else '?'}-token "
        f"prompt evaluated from an empty cache; generation: {max_tokens} tokens at temperature "
        "0, first to last token. Goal (issue 11): generation >= 10 tokens/s on 2 cores."
    )
    return "\n".join(lines)


# -- a tutorial's run, through a local server ------------------------------------------------


@dataclass
class RunResult:
    tool_choice: str
    seconds: float
    status: str
    model_calls: int
    tokens: int
    answer: str


@dataclass(frozen=True)
class Config:
    """One model, with one prefix cache size (``NBEXT_PREFIX_CACHE``; ``None``: the default)."""

    model: EmbeddedModel
    prefix_cache: str | None

    def label(self, compared: bool) -> str:
        return f"{self.model.id}, cache {self.prefix_cache}" if compared else self.model.id

    def environ(self, home: Path) -> dict[str, str]:
        extra = {"NBEXT_PREFIX_CACHE": self.prefix_cache} if self.prefix_cache else {}
        return kit_environ(home, NBEXT_MODEL=self.model.id, **extra)


def server_for(config: Config, home: Path) -> tuple[Settings, float]:
    """The local server a kernel with ``config``'s variables would start; its start time."""
    settings = Settings.from_env(config.environ(home))
    started = time.perf_counter()
    local_server.ensure(settings)
    client = make_client(settings)
    client.models.list()  # loads the model
    return settings, time.perf_counter() - started


def make_client(settings: Settings) -> openai.OpenAI:
    info = local_server.ensure(settings)
    return openai.OpenAI(
        base_url=info.base_url, api_key=local_server.server_key(settings), max_retries=0
    )


def tutorial_run(settings: Settings, model: EmbeddedModel, tool_choice: str) -> RunResult:
    client = make_client(settings)
    coder = client.beta.assistants.create(
        model=model.id,
        instructions=CODER_INSTRUCTIONS,
        tools=[{"type": "code_interpreter"}],
        temperature=0,
    )
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content=FIBONACCI)
    started = time.perf_counter()
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=coder.id,
        tool_choice={"type": "code_interpreter"} if tool_choice == "forced" else "auto",
        truncation_strategy={"type": "last_messages", "last_messages": 1},
        poll_interval_ms=100,
    )
    seconds = time.perf_counter() - started
    # nbext's own route: the Chat Completions request of every model call of the run.
    prompts = client.get(run_prompts_path(thread.id, run.id), cast_to=object)
    calls = len(prompts.get("data", [])) if isinstance(prompts, dict) else 0
    messages = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    answer = " ".join(
        part.text.value for m in messages for part in m.content if part.type == "text"
    )
    return RunResult(
        tool_choice=tool_choice,
        seconds=seconds,
        status=run.status,
        model_calls=calls,
        tokens=run.usage.total_tokens if run.usage else 0,
        answer=answer,
    )


def run_table(results: dict[str, tuple[float, list[RunResult]]]) -> str:
    lines = [
        "| model | server start + load s | tool_choice | run wall s (median) | status "
        "| model calls | tokens | answer holds 6765 |",
        "|---|---:|---|---:|---|---:|---:|---|",
    ]
    for model_id, (start_s, runs) in results.items():
        for choice in ("forced", "auto"):
            mine = [r for r in runs if r.tool_choice == choice]
            if not mine:
                continue
            lines.append(
                f"| {model_id} | {start_s:.1f} | {choice} "
                f"| {statistics.median(r.seconds for r in mine):.1f} "
                f"| {', '.join(sorted({r.status for r in mine}))} "
                f"| {', '.join(str(r.model_calls) for r in mine)} "
                f"| {', '.join(str(r.tokens) for r in mine)} "
                f"| {sum('6765' in r.answer for r in mine)}/{len(mine)} |"
            )
    return "\n".join(lines)


# -- the tutorials under nbclient ---------------------------------------------------------------


def run_notebook(path: Path, env: dict[str, str]) -> tuple[float, str]:
    """Wall time of "Run all" on ``path``, and what went wrong (empty: nothing)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this process's environment
    started = time.perf_counter()
    problem = ""
    try:
        NotebookClient(
            notebook, timeout=600, resources={"metadata": {"path": str(path.parent)}}
        ).execute()
    except CellExecutionError as error:
        problem = str(error).strip().splitlines()[-1][:120]
    finally:
        seconds = time.perf_counter() - started
        os.environ.clear()
        os.environ.update(saved)
    return seconds, problem


def notebook_table(times: dict[str, dict[str, tuple[float, str]]]) -> str:
    models = list(times)
    names = list(next(iter(times.values())))
    lines = [
        "| notebook | " + " | ".join(f"{m} s" for m in models) + " |",
        "|---|" + "---:|" * len(models),
    ]
    for name in names:
        cells = []
        for m in models:
            seconds, problem = times[m][name]
            cells.append(f"{seconds:.0f}" + (f" (error: {problem})" if problem else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Wall time of nbclient's execute(): kernel start, %load_ext nbext and every cell; "
        "the model's server was already up. Goal (issue 11): each tutorial under 90 s."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", nargs="+", choices=list(CATALOGUE), help="default: every installed one"
    )
    parser.add_argument("--rounds", type=int, help="speed rounds (default 5; --quick 2)")
    parser.add_argument("--runs", type=int, default=2, help="tutorial runs per tool_choice")
    parser.add_argument(
        "--notebooks",
        nargs="*",
        metavar="PREFIX",
        help="time the tutorials too: all, or those whose name starts with a PREFIX (03 07)",
    )
    parser.add_argument("--skip-speed", action="store_true", help="leave part 1 out")
    parser.add_argument(
        "--prefix-cache",
        nargs="+",
        metavar="SIZE",
        help="parts 2 and 3 with each of these NBEXT_PREFIX_CACHE sizes, side by side (0 128M)",
    )
    parser.add_argument("--quick", action="store_true", help="2 rounds of 32 tokens, 1 run")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    max_tokens = 32 if args.quick else MAX_TOKENS
    runs = 1 if args.quick else args.runs
    quiet_assistants_deprecation()

    wanted = [CATALOGUE[name] for name in args.models or CATALOGUE]
    models = [m for m in wanted if m.installed()]
    for missing in set(wanted) - set(models):
        print(f"skipped {missing.id}: not installed ({missing.pip_command})")
    print(f"date      {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine   {cpu_line()}")
    print(f"cpu flags {simd_flags()}")
    print(f"load avg  {' '.join(f'{x:.2f}' for x in os.getloadavg())} (at start)")
    started = time.perf_counter()

    home = bench_home("nbext-bench-models-")
    try:
        model_dir = Settings.from_env({"NBEXT_HOME": str(home)}).model_dir
        for model in models:  # assembled now, so load times are llama.cpp's alone
            ensure_model_file(model_dir, model, progress=False)
        if not args.skip_speed:
            print("\n## Speed, load time and memory (in-process backend)")
            children = measure_speed(models, home, rounds, max_tokens)
            print()
            print(speed_table(children, max_tokens))

        print("\n## A tutorial run (notebook 07's question, through the local server)")
        caches = args.prefix_cache or [None]
        configs = [Config(model, cache) for model in models for cache in caches]
        compared = len(caches) > 1
        results: dict[str, tuple[float, list[RunResult]]] = {}
        servers: dict[Config, Settings] = {}
        for config in configs:
            label = config.label(compared)
            settings, start_s = server_for(config, home)
            servers[config] = settings
            mine = []
            for _ in range(runs):
                for choice in ("forced", "auto"):
                    result = tutorial_run(settings, config.model, choice)
                    print(
                        f"  {label} {choice}: {result.seconds:.1f} s, {result.status}, "
                        f"{result.answer[:70]!r}",
                        flush=True,
                    )
                    mine.append(result)
            results[label] = (start_s, mine)
            if args.notebooks is None:
                local_server.stop(settings)  # one model in memory at a time
        print()
        print(run_table(results))

        if args.notebooks is not None:
            notebooks = [
                path
                for path in sorted((ROOT / "notebooks").glob("0*.ipynb"))
                if not args.notebooks or path.name.startswith(tuple(args.notebooks))
            ]
            print("\n## The tutorials under nbclient")
            times: dict[str, dict[str, tuple[float, str]]] = {}
            for model in models:
                mine = [config for config in configs if config.model is model]
                for path in notebooks:  # the cache sizes take turns, notebook by notebook
                    for config in mine:
                        label = config.label(compared)
                        seconds, problem = run_notebook(path, config.environ(home))
                        times.setdefault(label, {})[path.stem] = (seconds, problem)
                        print(f"  {label} {path.stem}: {seconds:.0f} s {problem}", flush=True)
                for config in mine:
                    local_server.stop(servers[config])
            print()
            print(notebook_table(times))
    finally:
        stop_servers(home)
        shutil.rmtree(home, ignore_errors=True)
    print(
        f"\nLoad avg at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"benchmark took {time.perf_counter() - started:.0f} s."
    )


if __name__ == "__main__":
    sys.exit(main())
