"""One IPython kernel in its sandbox: start it, run code under limits, stop it.

The kernel talks to us over ZeroMQ *ipc* sockets (files in a private runtime
directory) rather than TCP: a kernel in its own network namespace cannot
reach our loopback, but it can reach a Unix socket by its path.
"""

from __future__ import annotations

import base64
import contextlib
import queue
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager

from nbext.tools.code_interpreter import reaper, sandbox
from nbext.tools.code_interpreter.result import ExecutionResult, LogBuffer, strip_ansi
from nbext.tools.code_interpreter.workdir import chown_tree

INTERRUPT_GRACE = 2.0
"""Seconds an interrupted kernel gets to go idle before it is restarted."""
LOST = "variables and imports were lost (files are kept)"


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
    ) -> None:
        self.workdir = workdir
        self.sandboxes = sandboxes
        """Where the kernel is recorded while it runs (see :mod:`.reaper`); None: nowhere."""
        self.record: Path | None = None
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
        argv = sandbox.kernel_argv(
            self.python,
            self.isolation,
            self.limits,
            self.workdir,
            self.uid,
            sandbox.user_tasks_now(),
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
        if pid is not None:
            sandbox.rearm_cpu_limit(pid, self.limits.cpu_seconds)
        logs = LogBuffer(self.limits.max_output_bytes)
        images: list[bytes] = []
        error: list[str] = []
        msg_id = self.kc.execute(code, allow_stdin=False, store_history=True)
        deadline = time.monotonic() + timeout
        if not self._wait_idle(msg_id, deadline, logs, images, error):
            if not self.alive:
                return self._died(logs, images)
            return self._timed_out(msg_id, timeout, logs, images)
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
        """Collect output until the kernel goes idle (True) or the deadline/death (False)."""
        assert self.kc is not None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
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

    def _errored(self, error: list[str], logs: LogBuffer, images: list[bytes]) -> ExecutionResult:
        ename, evalue = error
        message = strip_ansi(f"{ename}: {evalue}")
        if "MemoryError" in ename:
            message += f" (the memory limit is {_size(self.limits.memory_bytes)})"
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
    ) -> ExecutionResult:
        assert self.km is not None
        limit = f"execution exceeded the {timeout:g} s time limit"
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
        elif code == -signal.SIGKILL:
            limit = _size(self.limits.memory_bytes)
            why = f"was killed (most likely out of memory; the limit is {limit})"
        else:
            why = f"exited unexpectedly (exit status {code})"
        self.stop()
        message = f"the interpreter {why} and was stopped: {LOST}"
        return ExecutionResult("killed", logs.text(), images, error=message, state_lost=True)

    def _pid(self) -> int | None:
        process = getattr(self.km.provisioner, "process", None) if self.km else None
        return process.pid if process is not None else None

    def _returncode(self) -> int | None:
        process = getattr(self.km.provisioner, "process", None) if self.km else None
        return process.poll() if process is not None else None


def _size(n: int) -> str:
    return f"{n / 1024**3:g} GiB" if n >= 1024**3 else f"{n / 1024**2:g} MiB"

