"""The SDK compatibility matrix: the contract suite under each ``openai`` release.

    python tests/compat/matrix.py                 # every release in RELEASES
    python tests/compat/matrix.py --ends          # the oldest and the newest only
    python tests/compat/matrix.py --versions 1.21.0 3.57.0 --markdown

One virtual environment per release (``openai==<ver>``, pytest, pytest-timeout),
built once and cached under ``~/.cache/nbext/compat-venvs/openai-<ver>``. One
``nbext serve`` (this interpreter's nbext, in a temporary NBEXT_HOME that shares
only the model files) serves every release in turn; ``--base-url`` uses a
server that is already running instead. Prints release x test (pass/FAIL) and a
summary; exits 1 if any cell fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
SUITE = HERE / "contract_suite.py"

# A spread from the first release that spoke Assistants v2 to the newest 3.x on
# PyPI, with the releases where the surface the suite uses changed:
RELEASES = (
    "1.21.0",  # first with Assistants v2 (client.beta.vector_stores, run streaming helpers)
    "1.45.0",  # stream_options (1.26) and max_completion_tokens (1.45) are named parameters
    "1.66.0",  # vector stores leave beta: client.vector_stores
    "1.109.1",  # the last 1.x
    "2.30.0",  # 2.x
    "3.0.0",  # the first 3.x
    "3.57.0",  # the newest 3.x on PyPI (2026-11-30); nbext itself is built on it
)
# Releases before 1.55.3 pass ``proxies=`` to httpx.Client, which httpx 0.28
# removed: a venv built today for them needs the httpx their users had.
HTTPX_PROXIES_FIXED = (1, 55, 3)
SUITE_TIMEOUT_PER_TEST = 300


def default_venv_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "nbext" / "compat-venvs"


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def venv_for(release: str, root: Path) -> Path:
    """The cached venv for ``release``, built on first use (into a side directory,
    moved into place only when complete, so an interrupted build is never reused)."""
    venv = root / f"openai-{release}"
    if (venv / ".ready").exists():
        return venv
    root.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f"openai-{release}.", dir=root))
    shutil.rmtree(building)
    requirements = [f"openai=={release}", "pytest", "pytest-timeout"]
    if version_tuple(release) < HTTPX_PROXIES_FIXED:
        requirements.append("httpx<0.28")
    print(f"building {venv.name}: pip install {' '.join(requirements)}", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(building)], check=True)
        installed = subprocess.run(
            [str(building / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements],
            capture_output=True,
            text=True,
        )
        if installed.returncode != 0:
            raise RuntimeError(f"pip could not build {venv.name}:\n{installed.stderr[-3000:]}")
        frozen = subprocess.run(
            [str(building / "bin" / "python"), "-m", "pip", "freeze"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (building / ".ready").write_text(frozen)
        shutil.rmtree(venv, ignore_errors=True)
        building.rename(venv)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return venv


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def nbext_serve() -> Iterator[str]:
    """``nbext serve`` in a fresh NBEXT_HOME whose ``models`` is the user's model cache."""
    from nbext.config import Settings  # only the server side needs nbext

    model_dir = Settings.from_env().model_dir
    model_dir.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="nbext-compat-"))
    (home / "models").symlink_to(model_dir.resolve())
    env = {**os.environ, "NBEXT_HOME": str(home)}
    for inherited in ("NBEXT_DB_URL", "NBEXT_SERVER_URL"):
        env.pop(inherited, None)
    port = free_port()
    log = (home / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "nbext.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"nbext serve did not start:\n{(home / 'serve.log').read_text()}"
                )
            time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class Column:
    """One release's results: test name -> "pass" / "FAIL" / "skip", and why each failed."""

    release: str
    outcomes: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    broken: str = ""  # the venv or pytest itself failed: no per-test results

    @property
    def failed(self) -> bool:
        return bool(self.broken) or "FAIL" in self.outcomes.values()


def read_junit(path: Path, column: Column) -> None:
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = case.get("name", "?")
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            column.outcomes[name] = "FAIL"
            column.failures[name] = (problem.get("message") or "").strip().splitlines()[0][:300]
        elif case.find("skipped") is not None:
            column.outcomes[name] = "skip"
        else:
            column.outcomes[name] = "pass"


def run_suite(release: str, venv: Path, base_url: str, pytest_args: Sequence[str]) -> Column:
    column = Column(release)
    with tempfile.TemporaryDirectory(prefix="nbext-compat-junit-") as scratch:
        junit = Path(scratch) / "junit.xml"
        started = time.monotonic()
        finished = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pytest",
                str(SUITE),
                "-q",
                "-p",
                "no:cacheprovider",
                # tests/conftest.py imports nbext, which needs the newest SDK.
                "--noconftest",
                f"--timeout={SUITE_TIMEOUT_PER_TEST}",
                f"--junitxml={junit}",
                *pytest_args,
            ],
            env={**os.environ, "NBEXT_COMPAT_BASE_URL": base_url},
            capture_output=True,
            text=True,
        )
        column.seconds = time.monotonic() - started
        if junit.exists():
            read_junit(junit, column)
        if not column.outcomes or finished.returncode not in (0, 1):
            column.broken = (finished.stdout + finished.stderr).strip()[-2000:]
    return column


def print_matrix(columns: Sequence[Column], markdown: bool) -> None:
    tests: list[str] = []
    for column in columns:
        tests += [name for name in column.outcomes if name not in tests]
    width = max([len(name) for name in tests] + [len("test")])

    def cell(column: Column, name: str) -> str:
        return column.outcomes.get(name, "FAIL" if column.broken else "-")

    if markdown:
        print("| test | " + " | ".join(c.release for c in columns) + " |")
        print("|---|" + "---|" * len(columns))
        for name in tests:
            print(f"| `{name}` | " + " | ".join(cell(c, name) for c in columns) + " |")
        return
    print(f"{'test':<{width}}  " + "  ".join(f"{c.release:>8}" for c in columns))
    for name in tests:
        print(f"{name:<{width}}  " + "  ".join(f"{cell(c, name):>8}" for c in columns))


def print_summary(columns: Sequence[Column]) -> None:
    print()
    for column in columns:
        passed = sum(outcome == "pass" for outcome in column.outcomes.values())
        verdict = "broken" if column.broken else ("FAIL" if column.failed else "ok")
        print(
            f"openai {column.release:>8}: {passed}/{len(column.outcomes)} passed"
            f" in {column.seconds:5.1f} s  {verdict}"
        )
    for column in columns:
        if column.broken:
            print(f"\nopenai {column.release}: the suite did not run:\n{column.broken}")
        for name, why in column.failures.items():
            print(f"\nopenai {column.release} {name}: {why}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--versions", nargs="+", metavar="VER", help="openai releases to test")
    chosen.add_argument("--ends", action="store_true", help="only the oldest and newest release")
    parser.add_argument("--base-url", help="an nbext serve that is already running (…/v1)")
    parser.add_argument("--venvs", type=Path, default=default_venv_root(), help="venv cache")
    parser.add_argument("--markdown", action="store_true", help="print the matrix as Markdown")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --), e.g. -k chat")
    args = parser.parse_args(argv)
    releases = args.versions or ([RELEASES[0], RELEASES[-1]] if args.ends else list(RELEASES))

    venvs = {release: venv_for(release, args.venvs) for release in releases}
    columns: list[Column] = []
    with nbext_serve() if args.base_url is None else _given(args.base_url) as base_url:
        for release in releases:
            print(f"openai {release} ...", flush=True)
            columns.append(run_suite(release, venvs[release], base_url, args.pytest_args))
    print()
    print_matrix(columns, args.markdown)
    print_summary(columns)
    return 1 if any(column.failed for column in columns) else 0


@contextmanager
def _given(base_url: str) -> Iterator[str]:
    yield base_url


if __name__ == "__main__":
    sys.exit(main())
