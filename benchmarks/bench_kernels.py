"""Memory of N kernels that each ran one ``%%chat``: a model per kernel vs one shared server.

Before, every kernel loaded the model itself (an in-kernel server over an
in-process llama.cpp). Now ``%load_ext nbext`` finds or starts one server
process per user and configuration, and every kernel talks to it over HTTP
(:mod:`nbext.local_server`). This script measures what that changes for a
learner with several notebooks open: N real kernels (``jupyter_client``,
``ipykernel``), N = 1, 2, 5, 10, each of which has run one chat request.

- **before** (emulated): each kernel imports what the old kernel imported
  (the magics, the FastAPI app) and loads the model in-process:
  ``EmbeddedBackend(...).stream(...)`` for one 16-token answer. That is exactly
  what the old in-kernel server did for a ``%%chat``.
- **after**: each kernel runs ``%load_ext nbext`` and one real
  ``%%chat --max-tokens 16`` cell; all of them share one server process.

For every process it reads ``/proc/<pid>/smaps_rollup`` and reports RSS and
PSS summed over the kernels (and the server, after). PSS is the fair figure:
the model file is mmap'd, so its pages sit once in the page cache and are
shared by every process that maps them; RSS counts them once per process, PSS
splits them between the processes. ``Pss_Anon`` (private heap: the KV cache,
compute buffers, Python objects) is shown apart from ``Pss_File`` (the mapped
model and shared libraries).

Each configuration runs in a fresh ``NBEXT_HOME`` whose ``models`` directory
is a symlink to the user's (``~/.cache/nbext/models``), so the user's data is
never touched; the server started for "after" is stopped at the end of each
step. The script refuses to start another model-loading kernel when less than
1.5 GiB of memory is available.

The kernel helpers here are also used by ``bench_chat.py`` (cold start and the
thread comparison).

Usage::

    python benchmarks/bench_kernels.py              # N = 1, 2, 5, 10 (a few minutes)
    python benchmarks/bench_kernels.py --counts 1 2 # fewer kernels
"""

from __future__ import annotations

import argparse
import array
import contextlib
import datetime as dt
import json
import os
import platform
import queue
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

from nbext import local_server
from nbext.config import Settings

KIT_VARIABLES = (
    "NBEXT_SERVER_URL",
    "NBEXT_BACKEND_URL",
    "NBEXT_BACKEND_KEY",
    "NBEXT_MODEL",
    "NBEXT_DB_URL",
    "NBEXT_API_KEY",
    "NBEXT_THREADS",
)
"""Unset for every benchmark process: the embedded model, the default settings."""

MIN_AVAILABLE_GIB = 1.5
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- a private NBEXT_HOME -------------------------------------------------------


def user_settings() -> Settings:
    """The user's own settings (only its model directory is used)."""
    return Settings.from_env({k: v for k, v in os.environ.items() if k not in KIT_VARIABLES})


def bench_home(prefix: str) -> Path:
    """A fresh NBEXT_HOME that shares only the user's model files (as tests/conftest.py)."""
    user = user_settings()
    home = Path(tempfile.mkdtemp(prefix=prefix))
    user.model_dir.mkdir(parents=True, exist_ok=True)
    (home / "models").symlink_to(user.model_dir.resolve())
    return home


def kit_environ(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment, pointed at ``home``, kit variables otherwise unset."""
    env = {k: v for k, v in os.environ.items() if k not in KIT_VARIABLES}
    env["NBEXT_HOME"] = str(home)
    env.update(extra)
    return env


def stop_servers(home: Path) -> None:
    """Stop every server of ``home`` and wait until they are gone."""
    settings = Settings.from_env({"NBEXT_HOME": str(home)})
    pids = []
    for state_file in settings.run_dir.glob("server-*.json"):
        with contextlib.suppress(OSError, ValueError):
            pid = int(json.loads(state_file.read_text()).get("pid", 0))
            if pid:
                pids.append(pid)
    local_server.stop_all(settings)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# -- a real Jupyter kernel --------------------------------------------------------


@dataclass
class Cell:
    """What one execute_request produced, timed from when it was sent."""

    sent: float
    done_s: float | None = None
    first_token_s: float | None = None
    """First ``update_display_data`` with text: the first token ``%%chat`` draws."""
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Exceptions the cell raised."""

    @property
    def text(self) -> str:
        return "".join(self.stdout)


class Kernel:
    """An ipykernel started by jupyter_client, as JupyterLab starts one."""

    def __init__(self, env: dict[str, str], log: Path | None = None) -> None:
        started = time.perf_counter()
        self.km = KernelManager(kernel_name="python3")
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        self.km.start_kernel(env=env, stdout=out, stderr=out)
        self.kc: BlockingKernelClient = self.km.blocking_client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.start_s = time.perf_counter() - started
        self.cells: dict[str, Cell] = {}

    @property
    def pid(self) -> int:
        return self.km.provisioner.process.pid  # type: ignore[union-attr]

    def submit(self, code: str) -> str:
        msg_id = self.kc.execute(code, store_history=False)
        self.cells[msg_id] = Cell(sent=time.perf_counter())
        return msg_id

    def poll(self, timeout: float = 0.0) -> None:
        """Read iopub messages (waiting up to ``timeout`` for the first)."""
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=timeout)
            except queue.Empty:
                return
            timeout = 0.0
            self._note(msg, time.perf_counter())

    def _note(self, msg: dict[str, Any], now: float) -> None:
        cell = self.cells.get(msg["parent_header"].get("msg_id", ""))
        if cell is None:
            return
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status" and content["execution_state"] == "idle":
            cell.done_s = now - cell.sent
        elif kind == "stream":
            (cell.stdout if content["name"] == "stdout" else cell.stderr).append(content["text"])
        elif kind == "error":
            cell.errors.append(f"{content['ename']}: {content['evalue']}")
        elif (
            kind == "update_display_data"
            and content["data"].get("text/plain")
            and cell.first_token_s is None
        ):
            cell.first_token_s = now - cell.sent

    def done(self, msg_id: str) -> bool:
        return self.cells[msg_id].done_s is not None

    def wait(self, msg_id: str, timeout: float = 300.0) -> Cell:
        deadline = time.monotonic() + timeout
        while not self.done(msg_id):
            if time.monotonic() > deadline:
                raise TimeoutError(f"kernel {self.pid}: no idle after {timeout:.0f} s")
            self.poll(timeout=1.0)
        return self.cells.pop(msg_id)

    def run(self, code: str, timeout: float = 300.0) -> Cell:
        """Execute ``code``; fail loudly when it raised."""
        cell = self.wait(self.submit(code), timeout)
        if cell.errors:
            raise RuntimeError(
                f"kernel {self.pid}: {code[:60]!r} failed:\n" + "\n".join(cell.errors + cell.stderr)
            )
        return cell

    def ping(self) -> float:
        """Round trip of a trivial execute_request (``pass``) until its reply, in s."""
        started = time.perf_counter()
        msg_id = self.kc.execute("pass", store_history=False, silent=True)
        while self.kc.get_shell_msg(timeout=60)["parent_header"].get("msg_id") != msg_id:
            pass
        return time.perf_counter() - started

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.kc.stop_channels()
        with contextlib.suppress(Exception):
            self.km.shutdown_kernel(now=True)


# -- memory ------------------------------------------------------------------------


def smaps_rollup(pid: int) -> dict[str, int]:
    """Rss, Pss, Pss_Anon, Pss_File of ``pid`` in KiB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[name] = int(parts[0])
    return values


def resident_pages(pid: int) -> set[int]:
    """Physical page frames ``pid`` has resident (reads /proc/<pid>/pagemap; needs root)."""
    frames: set[int] = set()
    pfn_mask = (1 << 55) - 1
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            span = line.split(maxsplit=1)[0]
            start, end = (int(x, 16) for x in span.split("-"))
            pagemap.seek(start // PAGE * 8)
            try:
                entries = array.array("Q", pagemap.read((end - start) // PAGE * 8))
            except OSError:  # [vsyscall]
                continue
            frames.update(e & pfn_mask for e in entries if e >> 63)
    frames.discard(0)  # without CAP_SYS_ADMIN every frame reads as 0
    return frames


def footprint_kib(pids: list[int]) -> int | None:
    """Distinct physical pages resident in any of ``pids``: what the group holds in RAM.

    Unlike summed PSS, this does not hand part of a shared page (the model file,
    libpython) to processes outside the group; each page counts once, in full.
    ``None`` when the page frames are hidden (not root).
    """
    frames: set[int] = set()
    for pid in pids:
        frames |= resident_pages(pid)
    return len(frames) * PAGE // 1024 if frames else None


def available_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return float("inf")


IN_KERNEL_MODEL = """
import nbext.magics.chat, nbext.server.app  # what the old kernel imported besides the model
from pathlib import Path
from nbext.backends.embedded import EmbeddedBackend
_backend = EmbeddedBackend(Path({models!r}), progress=False)
_request = {{"model": "default", "messages": [{{"role": "user", "content": "Say hello."}}],
            "max_tokens": 16, "temperature": 0}}
_answer = "".join(c.choices[0].delta.content or "" for c in _backend.stream(_request) if c.choices)
print(len(_answer))
"""

SHARED_SERVER = ["%load_ext nbext", "%%chat --max-tokens 16 --temperature 0\nSay hello."]


@dataclass(frozen=True)
class Measure:
    arrangement: str
    kernels: int
    kernel_mem: list[dict[str, int]]
    server_mem: dict[str, int] | None
    footprint: int | None
    """Distinct resident pages of kernels + server, KiB."""

    def total(self, key: str) -> int:
        server = self.server_mem[key] if self.server_mem else 0
        return sum(m.get(key, 0) for m in self.kernel_mem) + server


def measure(arrangement: str, n: int) -> Measure:
    home = bench_home(f"nbext-bench-mem-{arrangement}-")
    env = kit_environ(home)
    kernels: list[Kernel] = []
    try:
        for i in range(n):
            if arrangement == "before" and available_gib() < MIN_AVAILABLE_GIB:
                raise SystemExit(
                    f"only {available_gib():.1f} GiB available after {i} kernels: stopping"
                )
            kernel = Kernel(env, home / "kernels.log")
            kernels.append(kernel)
            if arrangement == "before":
                cell = kernel.run(IN_KERNEL_MODEL.format(models=str(home / "models")))
            else:
                for code in SHARED_SERVER:
                    cell = kernel.run(code)
                if cell.first_token_s is None:
                    raise SystemExit(f"%%chat drew no token:\n{''.join(cell.stderr)}")
        time.sleep(1.0)  # let the last answer's buffers settle
        pids = [k.pid for k in kernels]
        kernel_mem = [smaps_rollup(pid) for pid in pids]
        server_mem = None
        if arrangement == "after":
            info = local_server.find(Settings.from_env({"NBEXT_HOME": str(home)}))
            if info is None:
                raise SystemExit("after: no server is running")
            server_mem = smaps_rollup(info.pid)
            pids.append(info.pid)
        return Measure(arrangement, n, kernel_mem, server_mem, footprint_kib(pids))
    finally:
        for kernel in kernels:
            kernel.close()
        stop_servers(home)
        shutil.rmtree(home, ignore_errors=True)


def mib(kib: float) -> str:
    return f"{kib / 1024:,.0f}"


def report(results: list[Measure]) -> str:
    header = (
        "| kernels | arrangement | RSS sum MiB | PSS sum MiB | PSS anon MiB | PSS file MiB "
        "| PSS per kernel MiB | server PSS MiB | distinct pages MiB |"
    )
    lines = [header, "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m in results:
        per_kernel = sum(k["Pss"] for k in m.kernel_mem) / m.kernels
        server = mib(m.server_mem["Pss"]) if m.server_mem else "-"
        lines.append(
            f"| {m.kernels} | {m.arrangement} | {mib(m.total('Rss'))} | {mib(m.total('Pss'))} "
            f"| {mib(m.total('Pss_Anon'))} | {mib(m.total('Pss_File'))} | {mib(per_kernel)} "
            f"| {server} | {mib(m.footprint) if m.footprint else '-'} |"
        )
    lines.append("")
    lines.append(
        "| kernels | PSS before MiB | PSS after MiB | after / before "
        "| distinct before MiB | distinct after MiB | after / before |"
    )
    lines.append("|---:|---:|---:|---:|---:|---:|---:|")
    by_n: dict[int, dict[str, Measure]] = {}
    for m in results:
        by_n.setdefault(m.kernels, {})[m.arrangement] = m
    for n, pair in sorted(by_n.items()):
        if len(pair) == 2:
            before, after = pair["before"].total("Pss"), pair["after"].total("Pss")
            row = f"| {n} | {mib(before)} | {mib(after)} | {after / before:.2f} |"
            fb, fa = pair["before"].footprint, pair["after"].footprint
            row += f" {mib(fb)} | {mib(fa)} | {fa / fb:.2f} |" if fb and fa else " - | - | - |"
            lines.append(row)
    return "\n".join(lines)


def machine_lines() -> list[str]:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"date      {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine   {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"{available_gib():.1f} GiB available",
        f"load avg  {load} (1/5/15 min, at start)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 5, 10])
    args = parser.parse_args()
    for line in machine_lines():
        print(line)
    started = time.perf_counter()
    results: list[Measure] = []
    for i, n in enumerate(args.counts):
        order = ["before", "after"] if i % 2 == 0 else ["after", "before"]
        for arrangement in order:
            print(f"{n} kernel(s), {arrangement} ...", flush=True)
            results.append(measure(arrangement, n))
            m = results[-1]
            print(f"  PSS {mib(m.total('Pss'))} MiB, RSS {mib(m.total('Rss'))} MiB", flush=True)
    print()
    print(report(results))
    print()
    print(
        f"Load avg at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"benchmark took {time.perf_counter() - started:.0f} s."
    )


if __name__ == "__main__":
    main()
