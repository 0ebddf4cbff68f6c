"""What ``%load_ext nbext`` costs a kernel, and what it drags in.

The magics are a client: they talk to the kit's server over HTTP through the
``openai`` SDK and never run the server, the runtime or the model in the
kernel. So loading them must not import any of that. This script checks it
and measures the load, for one source tree or several side by side:

1. Wall time of ``%load_ext nbext`` in a fresh IPython shell, each sample in a
   fresh Python process (nothing cached in ``sys.modules``). Starting Python
   and IPython is not counted.
2. The same plus importing every module of ``nbext.magics`` (every handler,
   and through them the ``openai`` SDK and the views): what using all the
   magics loads sooner or later, so a deferred import shows up here rather
   than disappearing from the figures.
3. ``sys.modules`` right after the load: the heavy packages that must NOT be
   there (the server's and the runtime's: fastapi, uvicorn, sqlalchemy, ...,
   and nbext's own server-side packages), and which of the client's packages
   (openai, pydantic, ipywidgets) are.
4. ``python -X importtime``: where the import time of the load (1.) goes,
   summed by top-level package (self time, so the rows add up to the total).

Every sample sets ``NBEXT_SERVER_URL`` to an address nobody listens on: the
extension's warm-up then starts no local server (loading the model is not an
import, and would swamp the figures), and nothing is contacted while loading.
``NBEXT_HOME`` is a throwaway directory.

The machine is shared and noisy: trees are sampled in interleaved rounds (the
order flips every round) and summarised by medians, and the comparison is the
median of the per-round ratios, so slow drift mostly cancels out.

Usage::

    python benchmarks/bench_import.py                      # this tree only
    python benchmarks/bench_import.py --compare 78acf0a    # that commit vs this tree
    python benchmarks/bench_import.py --tree old=/path/to/checkout --tree new=.

``--compare REV`` extracts REV with ``git archive`` into a temporary directory
(no worktree is registered). The exit status is 1 if the last tree imports a
forbidden package.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

FORBIDDEN = (
    "fastapi",
    "uvicorn",
    "sqlalchemy",
    "jupyter_client",
    "numpy",
    "bm25s",
    "tokenizers",
    "llama_cpp",
    "starlette",
    "nbext.server",
    "nbext.api",
    "nbext.engine",
    "nbext.store",
    "nbext.tools",
    "nbext.backends",
)
"""What the magics must never import: the server, the runtime and their dependencies."""

CLIENT_PACKAGES = ("openai", "pydantic", "httpx", "ipywidgets")
"""What the magics do need, sooner or later: reported, not judged."""

UNREACHABLE_SERVER = "http://127.0.0.1:9/v1"
"""Port 9 (discard): never an nbext server, so the warm-up thread starts nothing."""

MARK = "--nbext-bench-load-starts--"
MARK_END = "--nbext-bench-load-ends--"

CHILD = f"""
import importlib, json, pkgutil, sys, time
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
before = set(sys.modules)
sys.stderr.write({MARK!r} + "\\n")
started = time.perf_counter()
shell.run_line_magic("load_ext", "nbext")
loaded = time.perf_counter()
sys.stderr.write({MARK_END!r} + "\\n")
modules = sorted(set(sys.modules) - before)
import nbext.magics
for module in pkgutil.iter_modules(nbext.magics.__path__, "nbext.magics."):
    importlib.import_module(module.name)
every_magic = time.perf_counter()
print(json.dumps({{
    "load_s": loaded - started,
    "every_magic_s": every_magic - started,
    "modules": modules,
    "nbext": nbext.__file__,
}}))
"""


@dataclass
class Tree:
    label: str
    path: Path
    load_s: list[float] = field(default_factory=list)
    every_magic_s: list[float] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    import_us: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    import_total_us: list[int] = field(default_factory=list)

    def forbidden(self) -> list[str]:
        return sorted(
            {
                prefix
                for prefix in FORBIDDEN
                for module in self.modules
                if module == prefix or module.startswith(prefix + ".")
            }
        )

    def client_packages(self) -> list[str]:
        tops = {m.split(".")[0] for m in self.modules}
        return [p for p in CLIENT_PACKAGES if p in tops]

    def nbext_modules(self) -> list[str]:
        return [m for m in self.modules if m == "nbext" or m.startswith("nbext.")]


def child_env(tree: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBEXT_")}
    env.update(
        PYTHONPATH=str(tree),
        NBEXT_SERVER_URL=UNREACHABLE_SERVER,
        NBEXT_HOME=str(home),
    )
    return env


def sample(tree: Tree, home: Path, *, importtime: bool = False) -> dict[str, object]:
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", CHILD]
    done = subprocess.run(
        command,
        env=child_env(tree.path, home),
        cwd=home,  # not the repository: the tree must come from PYTHONPATH
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise SystemExit(f"{tree.label}: the child failed\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = tree.path.resolve() / "nbext" / "__init__.py"
    if Path(str(result["nbext"])).resolve() != expected:
        raise SystemExit(f"{tree.label}: imported {result['nbext']}, not {expected}")
    if importtime:
        result["importtime"] = done.stderr.split(MARK, 1)[1].split(MARK_END, 1)[0]
    return result


def by_package(importtime: str) -> dict[str, int]:
    """Self microseconds per top-level package, from ``-X importtime`` lines."""
    totals: dict[str, int] = defaultdict(int)
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|")
        totals[name.strip().split(".")[0]] += int(self_us)
    return dict(totals)


def extract(rev: str, into: Path) -> Path:
    """REV's files (tracked ones only), without registering a git worktree."""
    archive = subprocess.run(
        ["git", "-C", str(HERE), "archive", "--format=tar", rev],
        capture_output=True,
        check=True,
    )
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def spread(values: list[float]) -> str:
    return f"{ms(statistics.median(values))} ({ms(min(values))}-{ms(max(values))})"


def report(trees: list[Tree], rounds: int, load: tuple[float, float]) -> None:
    print(f"\n{platform.python_version()} on {os.cpu_count()} CPUs ({platform.machine()}),")
    print(f"load average {load[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end;")
    print(f"{rounds} interleaved rounds, each sample a fresh process.\n")
    print(
        "| tree | `%load_ext nbext`, ms: median (min-max) | + every `nbext.magics` module, ms "
        "| nbext modules | all new modules | client packages loaded | forbidden loaded |"
    )
    print("|---|---:|---:|---:|---:|---|---|")
    for tree in trees:
        forbidden = ", ".join(tree.forbidden()) or "none"
        client = ", ".join(tree.client_packages()) or "none"
        print(
            f"| {tree.label} | {spread(tree.load_s)} | {spread(tree.every_magic_s)} | "
            f"{len(tree.nbext_modules())} | {len(tree.modules)} | {client} | {forbidden} |"
        )
    if len(trees) > 1:
        first, last = trees[0], trees[-1]
        for what, a, b in (
            ("`%load_ext nbext`", first.load_s, last.load_s),
            ("+ every nbext.magics module", first.every_magic_s, last.every_magic_s),
        ):
            ratio = statistics.median(y / x for x, y in zip(a, b, strict=True))
            print(f"\n{what}: {last.label} / {first.label} = {ratio:.2f}", end="")
        print("  (medians of the per-round ratios)")
    print("\n`-X importtime` of the load, self time summed by top-level package, ms (median):\n")
    packages = sorted(
        {p for t in trees for p in t.import_us},
        key=lambda p: -max(statistics.median(t.import_us.get(p) or [0]) for t in trees),
    )
    print("| package | " + " | ".join(t.label for t in trees) + " |")
    print("|---|" + "---:|" * len(trees))
    for package in packages[:12]:
        cells = [
            f"{statistics.median(t.import_us[package]) / 1000:.0f}"
            if package in t.import_us
            else "-"
            for t in trees
        ]
        print(f"| {package} | " + " | ".join(cells) + " |")
    totals = [f"{statistics.median(t.import_total_us) / 1000:.0f}" for t in trees]
    print("| **total** | " + " | ".join(totals) + " |")
    for tree in trees:
        print(f"\n{tree.label}: nbext modules loaded: {', '.join(tree.nbext_modules())}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", metavar="REV", help="a git revision to compare with")
    parser.add_argument(
        "--tree", action="append", default=[], metavar="LABEL=PATH", help="a source tree"
    )
    parser.add_argument("--rounds", type=int, default=9, help="samples per tree (default 9)")
    parser.add_argument(
        "--importtime-runs", type=int, default=3, help="-X importtime runs per tree (default 3)"
    )
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="nbext-bench-import-") as scratch:
        home = Path(scratch) / "home"
        home.mkdir()
        trees = []
        if args.compare:
            before = extract(args.compare, Path(scratch) / "tree")
            trees.append(Tree(args.compare, before))
        for spec in args.tree:
            label, _, path = spec.partition("=")
            trees.append(Tree(label, Path(path).resolve()))
        if not args.tree:
            trees.append(Tree("this tree", HERE))
        for tree in trees:  # compiles the .pyc files, so no sample pays for that
            sample(tree, home)
        for round_ in range(args.rounds):
            for tree in trees if round_ % 2 == 0 else trees[::-1]:
                result = sample(tree, home)
                tree.load_s.append(float(result["load_s"]))  # type: ignore[arg-type]
                tree.every_magic_s.append(float(result["every_magic_s"]))  # type: ignore[arg-type]
                tree.modules = list(result["modules"])  # type: ignore[call-overload]
            print(".", end="", flush=True)
        for round_ in range(args.importtime_runs):
            for tree in trees if round_ % 2 == 0 else trees[::-1]:
                packages = by_package(str(sample(tree, home, importtime=True)["importtime"]))
                for package, us in packages.items():
                    tree.import_us[package].append(us)
                tree.import_total_us.append(sum(packages.values()))
        report(trees, args.rounds, load)
    return 1 if trees[-1].forbidden() else 0


if __name__ == "__main__":
    raise SystemExit(main())
