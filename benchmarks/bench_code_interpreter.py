"""What the code_interpreter sandbox costs on top of a plain Jupyter kernel.

Every code_interpreter call goes through ``CodeInterpreter.execute``: a kernel
in its own uid, network and mount namespaces, with limits re-armed and the
working directory scanned for new files on every call. This script measures
that against the bare ``jupyter_client`` round trip on an unsandboxed kernel:

1. Cold start: first ``execute("pass")`` on a new thread (kernel launch through
   the sandbox launcher, ready, one execution), median of N, against a plain
   ``KernelManager`` start + ``wait_for_ready`` + one execution.
2. Warm overhead: ``pass`` and ``1+1`` on a started kernel, median and p95 of
   M calls each, against ``BlockingKernelClient.execute`` + waiting for idle
   on iopub + the shell reply. Goal: sandboxed <= 50 ms per call.

Calls of both kinds are interleaved so machine noise hits both alike.

Usage::

    python benchmarks/bench_code_interpreter.py            # 5 cold starts, 50 calls
    python benchmarks/bench_code_interpreter.py --quick    # 2 and 10, for CI
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

from nbext.tools.code_interpreter import CodeInterpreter


def raw_round_trip(kc: BlockingKernelClient, code: str) -> None:
    """The minimum any Jupyter front end does: execute, wait for idle and reply."""
    msg_id = kc.execute(code)
    while True:
        msg = kc.get_iopub_msg(timeout=30)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        ):
            break
    while kc.get_shell_msg(timeout=30)["parent_header"].get("msg_id") != msg_id:
        pass


def start_raw() -> tuple[KernelManager, BlockingKernelClient]:
    km = KernelManager(kernel_name="python3")
    km.start_kernel(stderr=subprocess.DEVNULL)
    kc = km.blocking_client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def stop_raw(km: KernelManager, kc: BlockingKernelClient) -> None:
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    cold_runs, warm_calls = (2, 10) if args.quick else (5, 50)

    with tempfile.TemporaryDirectory() as base:
        ci = CodeInterpreter(Path(base), idle_timeout=None)
        print(f"isolation: {ci.isolation}", file=sys.stderr)

        cold_ci: list[float] = []
        cold_raw: list[float] = []
        for i in range(cold_runs):
            thread = f"cold{i}"
            cold_ci.append(timed(lambda t=thread: ci.execute(t, "pass")))  # type: ignore[misc]
            ci.stop(thread)

            start = time.perf_counter()
            km, kc = start_raw()
            raw_round_trip(kc, "pass")
            cold_raw.append(time.perf_counter() - start)
            stop_raw(km, kc)

        ci.execute("warm", "pass")
        km, kc = start_raw()
        raw_round_trip(kc, "pass")
        warm: dict[str, tuple[list[float], list[float]]] = {}
        for code in ("pass", "1+1"):
            sandboxed: list[float] = []
            plain: list[float] = []
            for _ in range(warm_calls):
                sandboxed.append(timed(lambda c=code: ci.execute("warm", c)))  # type: ignore[misc]
                plain.append(timed(lambda c=code: raw_round_trip(kc, c)))  # type: ignore[misc]
            warm[code] = (sandboxed, plain)
        stop_raw(km, kc)
        ci.shutdown()

    ms = 1000.0
    rows = [
        (
            f"cold start (median of {cold_runs})",
            statistics.median(cold_ci) * ms,
            statistics.median(cold_raw) * ms,
        )
    ]
    for code, (sandboxed, plain) in warm.items():
        rows.append(
            (
                f"`{code}` median of {warm_calls}",
                statistics.median(sandboxed) * ms,
                statistics.median(plain) * ms,
            )
        )
        rows.append((f"`{code}` p95 of {warm_calls}", p95(sandboxed) * ms, p95(plain) * ms))

    print(
        f"date: {dt.date.today()}  python: {platform.python_version()}  "
        f"host: {platform.machine()} {platform.system()} {platform.release()}"
    )
    print()
    print("| measurement | code_interpreter (ms) | raw jupyter_client (ms) | ratio |")
    print("|---|---:|---:|---:|")
    for name, ours, raw in rows:
        print(f"| {name} | {ours:.1f} | {raw:.1f} | {ours / raw:.2f} |")
    worst = max(p95(s) for s, _ in warm.values()) * ms
    print()
    print(f"warm p95 {worst:.1f} ms: {'meets' if worst <= 50 else 'MISSES'} the 50 ms goal")


if __name__ == "__main__":
    main()
