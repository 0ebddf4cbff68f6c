"""What the portable llama.cpp build costs against a native one, measured side by side.

nbext builds llama-cpp-python portable (``CMAKE_ARGS="-DGGML_NATIVE=OFF"``:
AVX2/FMA/F16C, no AVX512) because a native build crashed on an Intel CPU with
AVX512/AMX (see /work/shared/TESTING.md, "Portability"). This script measures
the price of that choice on the machine it runs on: prompt tokens/s and
generation tokens/s of each build, on the same prompts, interleaved, each build
at its best thread count.

It installs nothing. Give it one interpreter per build, each with its own
llama-cpp-python installed (a venv per build), as ``--python LABEL=PATH``; the
first one is the baseline the others are divided by. For example::

    python3 -m venv /tmp/venv-native
    /tmp/venv-native/bin/pip install /tmp/wh-native/llama_cpp_python-0.3.36-*.whl
    .venv/bin/python benchmarks/bench_portability.py \\
        --python portable=.venv/bin/python --python native=/tmp/venv-native/bin/python

For every build and every thread count (``--threads``, default 1 .. the CPUs
this process may use) the script starts one measuring child under that build's
interpreter (``n_threads = n_threads_batch``), which loads the model once and
then answers requests on stdin. A child that dies is reported with its exit
status (a build that does not suit the CPU typically segfaults at its first
decode) and left out. Each round sends the same request to every live child,
in an order rotated (and reversed every other round) from round to round:

- **prompt tokens/s**: the KV cache is cleared, then ``llm.eval`` of a
  446-token prompt (one batch: n_batch is 512);
- **generation tokens/s**: the KV cache is cleared, then
  ``create_completion(prompt, max_tokens=128, temperature=0, stream=True)``
  on a story prompt in the model's chat format; speed from the first token to
  the last (n tokens, n - 1 gaps), so prompt processing is left out. Each round
  starts the system message with a fresh number, so the rounds differ while all
  children of a round get the same prompt.

Per build the best thread count is the one with the highest median (chosen for
prompt and generation separately); the ratio reported is the median over rounds
of (build at its best) / (baseline at its best) in the same round.

Usage::

    python benchmarks/bench_portability.py --python portable=PY1 --python native=PY2
    python benchmarks/bench_portability.py ... --quick    # 2 rounds, 32 tokens
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from measuring_child import MeasuringChild, rate

N_CTX = 32_768
"""As the kit's EmbeddedBackend (DEFAULT_CONTEXT_WINDOW)."""
MAX_TOKENS = 128
STORY_PROMPT = (
    "Write a long story about a lighthouse keeper who befriends a lost whale. "
    "Make it at least 500 words."
)
LONG_TEXT = (
    "The Assistants API is Chat Completions plus server-side state, a context-window "
    "policy and a tool loop. A thread keeps the messages; a run sends the newest of them "
    "to the model, calls the tools the model asks for, and stores the answer as a new "
    "message. Every step of a run is recorded, so a learner can open each piece and see "
    "what the model was shown and what it answered. "
)

CHILD = r"""
import json, sys, time
import llama_cpp
from llama_cpp import Llama

model, threads, n_ctx = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
facts = {
    "system_info": llama_cpp.llama_print_system_info().decode().strip(),
    "llama_cpp": llama_cpp.__version__,
    "module": llama_cpp.__file__,
}
started = time.perf_counter()
llm = Llama(model_path=model, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
            verbose=False)
facts["load_s"] = time.perf_counter() - started
print(json.dumps({"ready": facts}), flush=True)

def tokens(text):
    return llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

for line in sys.stdin:
    request = json.loads(line)
    long = tokens(request["long"])
    llm.reset()  # n_tokens = 0: eval clears the KV cache from position 0
    started = time.perf_counter()
    llm.eval(long)
    prompt_s = time.perf_counter() - started

    llm.reset()
    parts, first, last = [], None, None
    started = time.perf_counter()
    for chunk in llm.create_completion(request["prompt"], max_tokens=request["max_tokens"],
                                       temperature=0, stream=True):
        text = chunk["choices"][0]["text"]
        if text:
            now = time.perf_counter()
            first = now if first is None else first
            last = now
            parts.append(text)
    end = time.perf_counter()
    text = "".join(parts)
    print(json.dumps({
        "prompt_tokens": len(long), "prompt_s": prompt_s,
        "gen_tokens": len(tokens(text)), "ttft_s": (first or end) - started,
        "first_to_last_s": (last or end) - (first or end), "total_s": end - started,
        "text": text,
    }), flush=True)
"""


def chatml(system: str, user: str) -> str:
    """The Qwen chat format the kit's backend renders (no tools)."""
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n"
        f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    )


def default_model() -> Path:
    try:
        from nbext.backends.models import find_model
        from nbext.config import Settings

        settings = Settings.from_env()
        return settings.model_dir / find_model(settings.model).gguf_name
    except ImportError:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(cache) / "nbext" / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


@dataclass
class Child(MeasuringChild):
    """One build at one thread count: a process that measures on request."""

    build: str
    python: str
    threads: int

    @property
    def name(self) -> str:
        return f"{self.build}/t{self.threads}"

    def start(self, model: Path) -> None:
        self.spawn([self.python, "-c", CHILD, str(model), str(self.threads), str(N_CTX)])


def best(children: list[Child], build: str, kind: str) -> Child | None:
    mine = [c for c in children if c.build == build and not c.failure and c.results]
    return max(mine, key=lambda c: c.median(kind), default=None)


def parse_python(value: str) -> tuple[str, str]:
    label, sep, path = value.partition("=")
    if not sep:
        label, path = Path(value).parent.parent.name or value, value
    return label, path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="This script installs nothing: make one venv per build yourself (see its "
        "docstring) and pass each venv's interpreter with --python.",
    )
    parser.add_argument(
        "--python",
        action="append",
        required=True,
        metavar="[LABEL=]PATH",
        help="an interpreter with a llama-cpp-python build (repeat; the first is the baseline)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=list(range(1, len(os.sched_getaffinity(0)) + 1)),
        help="thread counts to try per build (default: 1 .. usable CPUs)",
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 8; --quick 2)")
    parser.add_argument("--model", type=Path, default=default_model(), help="the GGUF file")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 32 tokens (smoke)")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 8)
    max_tokens = 32 if args.quick else MAX_TOKENS
    builds = [parse_python(p) for p in args.python]

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"date      {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine   {cpu_line()}, {platform.system()} {platform.release()}")
    print(f"cpu flags {simd_flags()}")
    print(f"model     {args.model}")
    print(f"load avg  {load} (1/5/15 min, at start)")
    started = time.perf_counter()

    children = [Child(b, p, t) for b, p in builds for t in args.threads]
    long_prompt = chatml("You are a helpful assistant.", "Summarise this text.\n" + LONG_TEXT * 5)
    rng = random.Random(20261130)
    for child in children:
        child.start(args.model)
        if not child.failure:  # the first decode is where a build unfit for the CPU dies
            child.ask({"long": long_prompt, "prompt": chatml("Hi.", "Hi."), "max_tokens": 4})
        state = child.failure or f"runs (load {child.facts['load_s']:.2f} s)"
        print(f"  {child.name:14} {state}", flush=True)
    for build, python in builds:
        child = next(c for c in children if c.build == build)
        info = child.facts.get("system_info", "(did not start)")
        print(f"  {build} ({python}): {info}")

    live = [c for c in children if not c.failure]
    previous_lead = 0
    for i in range(rounds):
        lead = rng.choice([d for d in range(1, 10) if d != previous_lead])
        previous_lead = lead
        nonce = f"{lead}{rng.randrange(10**5):05d}"
        request = {
            "long": long_prompt,
            "prompt": chatml(f"{nonce}: You are a helpful assistant.", STORY_PROMPT),
            "max_tokens": max_tokens,
        }
        shift = i % max(1, len(live))
        order = live[shift:] + live[:shift]
        if (i // max(1, len(live))) % 2:
            order.reverse()
        for child in order:
            result = child.ask(request)
            if result is None:
                print(f"  {child.name} died in round {i + 1}: {child.failure}")
                continue
            result["round"] = i
            child.results.append(result)
        live = [c for c in live if not c.failure]
        print(f"  round {i + 1}/{rounds} done", flush=True)
    for child in children:
        child.stop()

    print()
    print(report(children, builds, max_tokens))
    print()
    print(
        f"Load avg at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"benchmark took {time.perf_counter() - started:.0f} s."
    )


def report(children: list[Child], builds: list[tuple[str, str]], max_tokens: int) -> str:
    lines = [
        "| build | threads | runs here | prompt tok/s (median) | generation tok/s (median) "
        "| tokens generated |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for c in children:
        if c.failure or not c.results:
            lines.append(f"| {c.build} | {c.threads} | no: {c.failure} | - | - | - |")
            continue
        tokens = sorted({r["gen_tokens"] for r in c.results})
        lines.append(
            f"| {c.build} | {c.threads} | yes | {c.median('prompt'):.1f} "
            f"| {c.median('gen'):.1f} | {', '.join(map(str, tokens))} |"
        )
    base = builds[0][0]
    lines += [
        "",
        f"| build (best thread count) | prompt tok/s | vs {base} | generation tok/s | vs {base} "
        f"| same text as {base} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for build, _ in builds:
        row = [build]
        for kind in ("prompt", "gen"):
            mine, theirs = best(children, build, kind), best(children, base, kind)
            if mine is None or theirs is None:
                row += ["-", "-"]
                continue
            by_round = {r["round"]: r for r in theirs.results}
            ratios = [
                rate(r, kind) / rate(by_round[r["round"]], kind)
                for r in mine.results
                if r["round"] in by_round
            ]
            row.append(f"{mine.median(kind):.1f} (t={mine.threads})")
            row.append(f"{statistics.median(ratios):.3f}" if ratios else "-")
        mine, theirs = best(children, build, "gen"), best(children, base, "gen")
        if mine and theirs:
            texts = {r["round"]: r["text"] for r in theirs.results}
            same = sum(texts.get(r["round"]) == r["text"] for r in mine.results)
            row.append(f"{same}/{len(mine.results)}")
        else:
            row.append("-")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append(
        f"Ratios: median over rounds of (build at its best) / ({base} at its best) in the same "
        f"round. Generation: {max_tokens} tokens at temperature 0, first to last token."
    )
    return "\n".join(lines)


def cpu_line() -> str:
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (usable {len(os.sched_getaffinity(0))}), {model}"


def simd_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "?"
    lines = text.splitlines()
    flags = next((x.split(":", 1)[1].split() for x in lines if x.startswith("flags")), [])
    wanted = [f for f in flags if f.startswith(("avx", "amx", "fma", "f16c"))]
    return " ".join(sorted(set(wanted))) + ("" if any("amx" in f for f in flags) else " (no AMX)")


if __name__ == "__main__":
    sys.exit(main())
