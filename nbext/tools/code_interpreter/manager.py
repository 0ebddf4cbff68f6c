"""``CodeInterpreter``: one sandboxed IPython kernel per Assistants thread.

Kernels start lazily on a thread's first execution (a run that never uses
code_interpreter costs nothing), keep their variables between executions like
a notebook does, and are stopped after ``idle_timeout`` seconds without use,
when a limit ends them, and on :meth:`CodeInterpreter.shutdown`. Files live on
in the thread's working directory; a stopped kernel simply starts again.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from nbext.tools.code_interpreter import sandbox
from nbext.tools.code_interpreter.kernel import SandboxKernel
from nbext.tools.code_interpreter.result import ExecutionResult
from nbext.tools.code_interpreter.workdir import changed_files, put_file, snapshot

_THREAD_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def _may_hide(path: Path, python: str) -> bool:
    """Not a directory holding an interpreter or its standard library: a data
    directory set to ``/``, ``/usr`` or ``~`` must not take the kernel's Python
    away with it."""
    needed = {Path(sys.base_prefix).resolve(), Path(python).resolve().parent, Path("/usr/lib")}
    needed.add(Path(os.path.abspath(python)).parent.parent)  # its venv
    return not any(path == place or path in place.parents for place in needed)


@dataclass
class _Sandbox:
    workdir: Path
    uid: int | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    kernel: SandboxKernel | None = None
    last_used: float = field(default_factory=time.monotonic)


class CodeInterpreter:
    """Runs code for threads, each in its own kernel, directory and uid.

    Thread-safe: executions on different threads run in parallel, executions
    on one thread run one after the other.
    """

    def __init__(
        self,
        base_dir: Path | str,
        *,
        limits: sandbox.Limits | None = None,
        idle_timeout: float | None = 600.0,
        python: str = sys.executable,
        isolate_network: bool = True,
        mount_workdir: bool = True,
        drop_privileges: bool = True,
        hide: tuple[Path | str, ...] | None = None,
    ) -> None:
        """``hide``: directories no kernel may see (the server's data directory;
        default ``base_dir``, which holds every thread's working directory)."""
        self.base_dir = Path(base_dir)
        wanted = (Path(p).resolve() for p in (hide if hide is not None else (base_dir,)))
        self.hide = tuple(p for p in wanted if _may_hide(p, python))
        self.limits = limits or sandbox.Limits()
        self.idle_timeout = idle_timeout
        self.python = python
        probed = sandbox.probe(python)
        self.isolation = sandbox.Isolation(
            netns=probed.netns and isolate_network,
            mount=probed.mount and mount_workdir,
            setuid=probed.setuid and drop_privileges,
            kernel_python=probed.kernel_python,
            notes=probed.notes,
            proc=probed.proc and mount_workdir,
            userns=probed.userns,
            pidns=probed.pidns and mount_workdir,
        )
        if not self.isolation.setuid:
            # Kernels run as this process's own uid: without this they could
            # read its /proc/<pid>/environ (API keys) and memory.
            sandbox.forbid_inspection()
        self._sandboxes: dict[str, _Sandbox] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._reaper: threading.Thread | None = None
        atexit.register(self.shutdown)

    # -- public API ----------------------------------------------------------

    def workdir(self, thread_id: str) -> Path:
        """The thread's working directory (created on first use)."""
        return self._sandbox(thread_id).workdir

    def put_file(self, thread_id: str, name: str, data: bytes) -> Path:
        """Place an input file (flat name) in the thread's working directory."""
        box = self._sandbox(thread_id)
        with box.lock:
            return put_file(box.workdir, name, data, box.uid)

    def execute(
        self, thread_id: str, code: str, *, timeout: float | None = None
    ) -> ExecutionResult:
        """Run ``code`` in the thread's kernel, starting it if needed.

        Never raises for anything the code does: limits and crashes come back
        as a result with ``status`` and ``error``. Raises
        :class:`~nbext.tools.code_interpreter.kernel.KernelStartError` only
        when no kernel can be started at all.
        """
        if self._closed.is_set():
            raise RuntimeError("CodeInterpreter is shut down")
        box = self._sandbox(thread_id)
        self._ensure_reaper()
        with box.lock:
            started = time.monotonic()
            if box.kernel is None or not box.kernel.alive:
                box.kernel = self._start(box)
            before = snapshot(box.workdir)
            result = box.kernel.execute(code, timeout or self.limits.timeout)
            if not box.kernel.alive:
                box.kernel.stop()
                box.kernel = None
            notes: list[str] = []
            result.files = changed_files(
                box.workdir, before, box.uid, self.limits.max_file_bytes, notes
            )
            if notes:
                result.logs += "\n" if result.logs and not result.logs.endswith("\n") else ""
                result.logs += "\n".join(notes)
            box.last_used = time.monotonic()
            result.duration = box.last_used - started
            return result

    def is_running(self, thread_id: str) -> bool:
        box = self._sandboxes.get(thread_id)
        return box is not None and box.kernel is not None and box.kernel.alive

    def stop(self, thread_id: str) -> bool:
        """Stop the thread's kernel (files stay); True if one was running."""
        box = self._sandboxes.get(thread_id)
        if box is None:
            return False
        with box.lock:
            return self._stop(box)

    def remove(self, thread_id: str) -> None:
        """Stop the kernel and delete the working directory (thread deleted)."""
        box = self._sandbox(thread_id)
        with box.lock:
            self._stop(box)
            shutil.rmtree(box.workdir, ignore_errors=True)
        with self._lock:
            self._sandboxes.pop(thread_id, None)

    def reap_idle(self) -> list[str]:
        """Stop kernels idle for longer than ``idle_timeout``; returns their thread ids."""
        if self.idle_timeout is None:
            return []
        now = time.monotonic()
        stopped = []
        with self._lock:
            boxes = list(self._sandboxes.items())
        for thread_id, box in boxes:
            if box.kernel is None or now - box.last_used < self.idle_timeout:
                continue
            if box.lock.acquire(blocking=False):  # busy means not idle
                try:
                    if self._stop(box):
                        stopped.append(thread_id)
                finally:
                    box.lock.release()
        return stopped

    def shutdown(self) -> None:
        """Stop every kernel and the reaper; safe to call twice."""
        self._closed.set()
        atexit.unregister(self.shutdown)
        with self._lock:
            boxes = list(self._sandboxes.values())
        for box in boxes:
            with box.lock:
                self._stop(box)

    def __enter__(self) -> CodeInterpreter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()

    # -- internals -----------------------------------------------------------

    def _sandbox(self, thread_id: str) -> _Sandbox:
        if not _THREAD_ID.match(thread_id):
            raise ValueError(f"invalid thread id {thread_id!r}")
        with self._lock:
            box = self._sandboxes.get(thread_id)
            if box is None:
                workdir = self.base_dir / thread_id
                workdir.mkdir(parents=True, exist_ok=True)
                workdir.chmod(0o700)  # other sandboxes' uids cannot look in
                taken = {b.uid for b in self._sandboxes.values() if b.uid is not None}
                uid = sandbox.allocate_uid(taken) if self.isolation.setuid else None
                box = self._sandboxes[thread_id] = _Sandbox(workdir, uid)
            return box

    def _start(self, box: _Sandbox) -> SandboxKernel:
        kernel = SandboxKernel(
            box.workdir,
            self.limits,
            self.isolation,
            box.uid,
            self.python,
            sandboxes=self.base_dir,
            hide=self.hide,
        )
        kernel.start()
        return kernel

    @staticmethod
    def _stop(box: _Sandbox) -> bool:
        if box.kernel is None:
            return False
        box.kernel.stop()
        box.kernel = None
        return True

    def _ensure_reaper(self) -> None:
        if self.idle_timeout is None or self._reaper is not None:
            return
        with self._lock:
            if self._reaper is None:
                self._reaper = threading.Thread(
                    target=self._reap_loop, name="code-interpreter-reaper", daemon=True
                )
                self._reaper.start()

    def _reap_loop(self) -> None:
        assert self.idle_timeout is not None
        interval = min(max(self.idle_timeout / 4, 0.05), 30.0)
        while not self._closed.wait(interval):
            self.reap_idle()
