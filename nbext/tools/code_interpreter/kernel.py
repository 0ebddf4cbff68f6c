"""One IPython kernel in its sandbox: start it, run code under limits, stop it.

The kernel talks to us over ZeroMQ *ipc* sockets (files in a private runtime
directory) rather than TCP: a kernel in its own network namespace cannot
reach our loopback, but it can reach a Unix socket by its path.
"""

from __future__ import annotations

import base64
import contextlib
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager

from nbext.config import size_text
from nbext.tools.code_interpreter import reaper, sandbox
from nbext.tools.code_interpreter.result import ExecutionResult, LogBuffer, strip_ansi
from nbext.tools.code_interpreter.workdir import (
    Snapshot,
    chown_tree,
    disk_usage,
    remove_new_files,
    snapshot,
)

DISK_CHECK_INTERVAL = 0.02
"""Seconds between two measurements of what an execution wrote (longer when a
measurement itself takes long: a directory of many files). The disk limit can
be overshot by what the code writes in that time."""
OUTPUT_FLOOD_FACTOR = 32
"""An execution that prints this many times its output limit is stopped early:
what it prints beyond the limit is dropped anyway, and receiving it costs the
server CPU until the time limit."""
INTERRUPT_GRACE = 2.0
"""Seconds an interrupted kernel gets to go idle before it is restarted."""
LOST = "variables and imports were lost (files are kept)"
NOT_DUMPABLE = """\
# nbext: before any code runs, this kernel becomes non-dumpable: kernels of the
# same uid (a server that is not root) cannot reach its memory, environment or
# files through /proc/<pid>/ (mem, environ, root, cwd, fd).
import ctypes
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
del ctypes
"""


class KernelStartError(RuntimeError):
    """The sandboxed kernel did not come up; the message carries its log tail."""


class _OneSpec(KernelSpecManager):
    """Serves exactly our kernel command, whatever kernelspecs the host has."""

    def __init__(self, spec: KernelSpec) -> None:
        super().__init__()
        self._spec = spec

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return self._spec


class SandboxKernel:
    """A started kernel; after a fatal limit it stops itself (``alive`` is False)."""

    def __init__(
        self,
        workdir: Path,
        limits: sandbox.Limits,
        isolation: sandbox.Isolation,
        uid: int | None,
        python: str,
        sandboxes: Path | None = None,
        hide: tuple[Path, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.sandboxes = sandboxes
        """Where the kernel is recorded while it runs (see :mod:`.reaper`); None: nowhere."""
        self.record: Path | None = None
        self.hide = hide
        self.limits = limits
        self.isolation = isolation
        self.uid = uid
        self.python = python
        self.km: KernelManager | None = None
        self.kc: BlockingKernelClient | None = None
        self.runtime: Path | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        # A short path: Unix socket names are limited to 107 bytes.
        self.runtime = runtime = Path(tempfile.mkdtemp(prefix="nbext-ci-"))
        for sub in ("tmp", "ipython", "mpl", "cache", "config", "jupyter"):
            (runtime / sub).mkdir()
        startup = runtime / "ipython" / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-nbext-sandbox.py").write_text(NOT_DUMPABLE)
        argv = sandbox.kernel_argv(
            self.python,
            self.isolation,
            self.limits,
            self.workdir,
            self.uid,
            sandbox.user_tasks_now(),
            runtime,
            self.hide,
        )
        spec = KernelSpec(argv=argv, display_name="nbext sandbox", language="python", env={})
        km = KernelManager(
            kernel_spec_manager=_OneSpec(spec),
            kernel_name="nbext-sandbox",
            transport="ipc",
            ip=str(runtime / "k"),
            connection_file=str(runtime / "kernel.json"),
        )
        km.write_connection_file()
        if self.uid is not None:
            chown_tree(runtime, self.uid)
            chown_tree(self.workdir, self.uid)
        self.km = km
        with open(runtime / "kernel.log", "wb") as log:
            km.start_kernel(
                env=sandbox.minimal_env(self.python, self.home, str(runtime)),
                cwd=str(self.workdir),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        pid = self._pid()
        if self.sandboxes is not None and pid is not None:
            self.record = reaper.record(self.sandboxes, pid, self.uid, runtime)
        kc = km.blocking_client()
        kc.start_channels()
        self.kc = kc
        try:
            kc.wait_for_ready(timeout=timeout)
        except RuntimeError as exc:
            tail = (runtime / "kernel.log").read_text(errors="replace")[-2000:]
            self.stop()
            raise KernelStartError(f"the sandboxed kernel did not start: {exc}\n{tail}") from exc

    @property
    def home(self) -> str:
        """The workdir as the code sees it (also its cwd and ``HOME``)."""
        return sandbox.MOUNT_POINT if self.isolation.mount else str(self.workdir)

    @property
    def alive(self) -> bool:
        return self.km is not None and self.km.is_alive()

    def stop(self) -> None:
        """Kill the kernel and everything it started; remove its runtime files."""
        kc, km = self.kc, self.km
        if kc is not None:
            kc.stop_channels()
        if km is not None:
            # Already dead or half started: stopping must not fail.
            with contextlib.suppress(Exception):
                km.shutdown_kernel(now=True)
        self.kc = self.km = None
        if self.uid is not None:
            sandbox.kill_uid(self.uid, self.python)
        if self.runtime is not None:
            shutil.rmtree(self.runtime, ignore_errors=True)
            self.runtime = None
        if self.record is not None:
            self.record.unlink(missing_ok=True)
            self.record = None

    # -- execution ---------------------------------------------------------

    def execute(self, code: str, timeout: float) -> ExecutionResult:
        assert self.km is not None and self.kc is not None, "kernel not started"
        pid = self._pid()
        kernel = self.kernel_pid()
        if kernel is not None:
            # RLIMIT_CPU is per process: the kernel's, not its supervisor's.
            with contextlib.suppress(OSError):
                sandbox.rearm_cpu_limit(kernel, self.limits.cpu_seconds)
        logs = LogBuffer(self.limits.max_output_bytes)
        images: list[bytes] = []
        error: list[str] = []
        before = snapshot(self.workdir)
        roots = [self.workdir] + ([self.runtime] if self.runtime is not None else [])
        watch = _DiskWatch(roots, self.limits.max_disk_bytes, pid)
        msg_id = self.kc.execute(code, allow_stdin=False, store_history=True)
        deadline = time.monotonic() + timeout
        try:
            idle = self._wait_idle(msg_id, deadline, logs, images, error)
        finally:
            watch.stop()
        if not idle:
            if watch.exceeded:
                return self._disk_full(before, logs, images)
            if not self.alive:
                return self._died(logs, images)
            flooded = logs.dropped > OUTPUT_FLOOD_FACTOR * self.limits.max_output_bytes
            return self._timed_out(msg_id, timeout, logs, images, flooded)
        self._drain_shell(msg_id)
        if not error:
            return ExecutionResult("ok", logs.text(), images)
        return self._errored(error, logs, images)

    def _wait_idle(
        self,
        msg_id: str,
        deadline: float,
        logs: LogBuffer,
        images: list[bytes],
        error: list[str],
    ) -> bool:
        """Collect output until the kernel goes idle (True) or the deadline, its
        death or an output flood (False)."""
        assert self.kc is not None
        flood = OUTPUT_FLOOD_FACTOR * logs.limit if logs.limit else None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (flood is not None and logs.dropped > flood):
                return False
            try:
                msg = self.kc.get_iopub_msg(timeout=min(remaining, 0.5))
            except queue.Empty:
                if not self.alive:
                    return False
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content["execution_state"] == "idle":
                return True
            if kind == "stream":
                logs.add(content["text"])
            elif kind in ("display_data", "execute_result"):
                self._display(content["data"], logs, images)
            elif kind == "error":
                error[:] = [content["ename"], content["evalue"]]
                logs.add("\n".join(content["traceback"]) + "\n")

    def _display(self, data: dict[str, Any], logs: LogBuffer, images: list[bytes]) -> None:
        if "image/png" in data:
            if len(images) < self.limits.max_images:
                images.append(base64.b64decode(data["image/png"]))
            else:
                logs.add(f"[image not returned: more than {self.limits.max_images} images]\n")
        elif "text/plain" in data:
            logs.add(data["text/plain"] + "\n")

    def _drain_shell(self, msg_id: str) -> None:
        """Read the execute reply so replies never pile up in the socket."""
        assert self.kc is not None
        end = time.monotonic() + 2.0
        while (left := end - time.monotonic()) > 0:
            try:
                reply = self.kc.get_shell_msg(timeout=left)
            except queue.Empty:
                return
            if reply["parent_header"].get("msg_id") == msg_id:
                return

    # -- outcomes of a failed execution -------------------------------------

    def _disk_full(self, before: Snapshot, logs: LogBuffer, images: list[bytes]) -> ExecutionResult:
        self.stop()  # every process of the sandbox first: nothing writes while we delete
        removed = remove_new_files(self.workdir, before)
        message = (
            f"the code wrote more than the {size_text(self.limits.max_disk_bytes)} of disk one "
            f"execution may use; it was stopped and the {removed} files it created were "
            "removed; variables and imports were lost (older files are kept)"
        )
        return ExecutionResult("killed", logs.text(), images, error=message, state_lost=True)

    def _errored(self, error: list[str], logs: LogBuffer, images: list[bytes]) -> ExecutionResult:
        ename, evalue = error
        message = strip_ansi(f"{ename}: {evalue}")
        if "MemoryError" in ename:
            message += f" (the memory limit is {size_text(self.limits.memory_bytes)})"
        if self._process_limit_hit(ename, evalue):
            return self._process_limit(logs, images)
        return ExecutionResult("error", logs.text(), images, error=message)

    def _process_limit_hit(self, ename: str, evalue: str) -> bool:
        suspicious = ename == "BlockingIOError" or "can't start new thread" in evalue
        if not suspicious or self.uid is None:
            return False
        return sandbox.tasks_of(self.uid) >= self.limits.max_processes * 0.8

    def _process_limit(self, logs: LogBuffer, images: list[bytes]) -> ExecutionResult:
        self.stop()
        message = (
            f"the code started too many processes (the limit is {self.limits.max_processes} "
            f"processes and threads); all were stopped and the interpreter restarted: {LOST}"
        )
        return ExecutionResult("killed", logs.text(), images, error=message, state_lost=True)

    def _timed_out(
        self,
        msg_id: str,
        timeout: float,
        logs: LogBuffer,
        images: list[bytes],
        flooded: bool = False,
    ) -> ExecutionResult:
        assert self.km is not None
        limit = f"execution exceeded the {timeout:g} s time limit"
        if flooded:
            limit = (
                f"execution printed more than {OUTPUT_FLOOD_FACTOR} times the "
                f"{size_text(self.limits.max_output_bytes)} output limit"
            )
        forks = self.uid is not None and (
            sandbox.tasks_of(self.uid) >= self.limits.max_processes * 0.8
        )
        if not forks:
            with contextlib.suppress(Exception):  # a kernel dying under us is handled below
                self.km.interrupt_kernel()
            grace = time.monotonic() + INTERRUPT_GRACE
            if self._wait_idle(msg_id, grace, LogBuffer(0), [], []):
                self._drain_shell(msg_id)
                message = f"{limit} and was interrupted; variables are kept"
                return ExecutionResult("timeout", logs.text(), images, error=message)
        self.stop()
        message = f"{limit}; the interpreter was restarted: {LOST}"
        return ExecutionResult("timeout", logs.text(), images, error=message, state_lost=True)

    def _died(self, logs: LogBuffer, images: list[bytes]) -> ExecutionResult:
        code = self._returncode()
        if code == -signal.SIGXCPU:
            why = f"used more than its {self.limits.cpu_seconds} s of CPU time"
        elif code in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS):
            # Under RLIMIT_AS a failed allocation in C code often crashes
            # rather than raising MemoryError.
            limit = size_text(self.limits.memory_bytes)
            what = "was killed" if code == -signal.SIGKILL else "crashed"
            why = f"{what} (most likely out of memory; the limit is {limit})"
        else:
            why = f"exited unexpectedly (exit status {code})"
        self.stop()
        message = f"the interpreter {why} and was stopped: {LOST}"
        return ExecutionResult("killed", logs.text(), images, error=message, state_lost=True)

    def _pid(self) -> int | None:
        """The launcher's pid: what jupyter_client signals and waits for, and
        what to SIGKILL to end the kernel and everything it started."""
        process = getattr(self.km.provisioner, "process", None) if self.km else None
        return process.pid if process is not None else None

    def kernel_pid(self) -> int | None:
        """The host pid of the ipykernel process itself (another one than
        :meth:`_pid` when kernels get a PID namespace)."""
        pid = self._pid()
        return None if pid is None else sandbox.kernel_process(pid, self.isolation)

    def _returncode(self) -> int | None:
        process = getattr(self.km.provisioner, "process", None) if self.km else None
        return process.poll() if process is not None else None


class _DiskWatch:
    """Measures what one execution adds to its directories, on a thread of its
    own; past the budget it SIGKILLs the kernel at once (``exceeded`` is set)."""

    def __init__(self, roots: list[Path], budget: int, pid: int | None) -> None:
        self.roots = roots
        self.pid = pid
        self.limit = disk_usage(roots, 2**62) + budget
        self.exceeded = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sandbox-disk", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        interval = DISK_CHECK_INTERVAL
        while not self._stop.wait(interval):
            began = time.monotonic()
            if disk_usage(self.roots, self.limit) > self.limit:
                self.exceeded = True
                if self.pid is not None:
                    with contextlib.suppress(OSError):
                        os.kill(self.pid, signal.SIGKILL)
                return
            # A huge directory is measured less often, not at any CPU cost.
            interval = max(DISK_CHECK_INTERVAL, 10 * (time.monotonic() - began))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
