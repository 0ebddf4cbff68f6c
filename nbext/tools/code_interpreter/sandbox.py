"""What a sandboxed kernel may do, and the OS mechanisms that enforce it.

Everything platform-specific lives here: probing which isolation this host
allows, picking a private uid per kernel, building the kernel's environment
from an allowlist, and the launcher command line that applies it all.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nbext.config import CodeLimits

LAUNCHER = Path(__file__).with_name("_launcher.py")
UID_BASE = 1_500_000_000
"""Sandbox uids are drawn from [UID_BASE, UID_BASE + UID_SPAN): far above any
real account or container subuid range, and never written to /etc/passwd."""
UID_SPAN = 1_000_000
MOUNT_POINT = "/mnt/data"


Limits = CodeLimits
"""Per-kernel limits: defined with the settings that set them (``NBEXT_CODE_*``)."""


@dataclass(frozen=True)
class Isolation:
    """Which mechanisms this host allows, found once by :func:`probe`."""

    netns: bool
    """Kernels get an empty network namespace (own loopback, no routes)."""
    mount: bool
    """Kernels see their workdir at /mnt/data, in a private mount namespace."""
    setuid: bool
    """Kernels run as a private unprivileged uid (so RLIMIT_NPROC applies)."""
    kernel_python: str
    """``sys.version`` of the kernel's interpreter as the sandbox user sees it."""
    notes: tuple[str, ...] = ()
    proc: bool = False
    """Kernels get a /proc that shows only their own processes (hidepid)."""
    userns: bool = False
    """Not root: kernels enter a user namespace of their own first, which is what
    lets them have the network and mount namespaces."""
    pidns: bool = False
    """Kernels run in a PID namespace of their own with a fresh /proc: they see
    and can signal only the processes they started (not the server's, not
    other kernels')."""


def interpreter_home(python: str) -> Path:
    """The venv (or prefix) the kernel's interpreter lives in, as its path says:
    kept visible in the kernel's mount namespace (a venv under /tmp, say)."""
    return Path(os.path.abspath(python)).parent.parent


def launcher_prefix(python: str) -> list[str]:
    # -S -E: no site, no PYTHON* variables: fast, and not steerable by the env.
    return [python, "-S", "-E", str(LAUNCHER)]


@functools.cache
def probe(python: str = sys.executable) -> Isolation:
    """Try a network namespace and a uid switch in a throwaway process.

    Cached per interpreter: the answer depends on the host, not on the kernel.
    """
    want_setuid = os.geteuid() == 0
    uid = UID_BASE + UID_SPAN - 1
    scratch = tempfile.mkdtemp(prefix="nbext-probe-")
    cmd = [*launcher_prefix(python), "--probe", "--netns", "--workdir", scratch]
    cmd += ["--keep", str(interpreter_home(python))]
    # Root also hides other uids' processes in that /proc (hidepid); a user
    # namespace's kernels share the server's uid, so there only the PID
    # namespace hides anything.
    cmd += ["--pidns", "--hide-proc" if want_setuid else "--userns"]
    if want_setuid:
        cmd += ["--uid", str(uid), "--gid", str(uid)]
    check = "import sys, ipykernel, matplotlib_inline; print(sys.version.split()[0])"
    cmd += ["--", python, "-c", check]
    notes: list[str] = []
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd="/",
            env=minimal_env(python, home="/"),
        )
        first, _, rest = done.stdout.partition("\n")
        report = json.loads(first)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return Isolation(False, False, False, "", (f"sandbox launcher failed: {exc}",))
    finally:
        os.rmdir(scratch)
    notes.extend(report["errors"])
    version = rest.strip()
    if done.returncode != 0:
        notes.append(f"kernel interpreter unusable in the sandbox: {done.stderr[-500:]}")
        if report["setuid"]:
            # Retry without dropping privileges: a kernel as root beats none.
            return Isolation(
                report["netns"],
                report["mount"],
                False,
                sys.version.split()[0],
                tuple(notes),
                proc=report["proc"],
                userns=report["userns"],
                pidns=report["pidns"],
            )
    if report["setuid"] and version != sys.version.split()[0]:
        notes.append(
            f"the kernel runs Python {version}, not the server's {sys.version.split()[0]}: "
            "the sandbox user cannot read the server interpreter's own library directory"
        )
    return Isolation(
        report["netns"],
        report["mount"],
        report["setuid"],
        version,
        tuple(notes),
        proc=report["proc"],
        userns=report["userns"],
        pidns=report["pidns"],
    )


PR_SET_DUMPABLE = 4


def forbid_inspection() -> None:
    """Make this process non-dumpable: its /proc/<pid>/environ, mem, fd and maps
    become root's, so processes of the same uid (kernels not running as a
    private uid) cannot read its environment or memory. Also means no core
    dumps and no debugger attaching as the same user (root still can)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def allocate_uid(taken: set[int]) -> int:
    """A uid no process on the host uses and this manager has not handed out."""
    busy = taken | uids_in_use()
    start = random.randrange(UID_SPAN)
    for step in range(UID_SPAN):
        uid = UID_BASE + (start + step) % UID_SPAN
        if uid not in busy:
            return uid
    raise RuntimeError("no free sandbox uid")


def uids_in_use() -> set[int]:
    return {uid for uid, _ in _tasks()}


def tasks_of(uid: int) -> int:
    """Processes plus threads of ``uid``: what RLIMIT_NPROC counts."""
    return sum(threads for owner, threads in _tasks() if owner == uid)


def _tasks() -> list[tuple[int, int]]:
    """(real uid, thread count) of every process, read from /proc."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                status = f.read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        try:
            found.append((int(fields["Uid"].split()[0]), int(fields["Threads"])))
        except (KeyError, ValueError, IndexError):
            continue
    return found


def kill_uid(uid: int, python: str = sys.executable, wait: float = 5.0) -> bool:
    """SIGKILL every process of a sandbox uid, fork bombs included (see _launcher).

    Waits until they are gone, since killed-but-unreaped processes still count
    against the uid's process limit that the next kernel starts under.
    """
    deadline = time.monotonic() + wait
    while True:
        subprocess.run([*launcher_prefix(python), "--kill-uid", str(uid)], check=False, timeout=30)
        if tasks_of(uid) == 0:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def minimal_env(python: str, home: str, runtime: str | None = None) -> dict[str, str]:
    """The kernel's whole environment: nothing of the server's is inherited.

    No API keys, no ``NBEXT_*``, no proxies; ``PYTHONPATH`` is empty. Caches and
    temporary files go to the per-kernel runtime directory, not the workdir, so
    they are not mistaken for files the code produced.
    """
    venv_bin = str(Path(python).parent)
    env = {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONPATH": "",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        # glibc reserves 64 MiB of address space per thread arena; under an
        # RLIMIT_AS of 1 GiB that alone could exhaust the limit.
        "MALLOC_ARENA_MAX": "2",
    }
    if runtime is not None:
        env |= {
            "TMPDIR": f"{runtime}/tmp",
            "IPYTHONDIR": f"{runtime}/ipython",
            "MPLCONFIGDIR": f"{runtime}/mpl",
            "XDG_CACHE_HOME": f"{runtime}/cache",
            "XDG_CONFIG_HOME": f"{runtime}/config",
            "JUPYTER_RUNTIME_DIR": f"{runtime}/jupyter",
        }
    return env


def rlimit_args(limits: Limits, nproc: int | None) -> list[str]:
    """Launcher flags for the limits fixed at start (CPU is re-armed per execution)."""
    mem = limits.memory_bytes
    fsize = limits.max_file_bytes
    cpu = limits.cpu_seconds
    args = [f"as={mem}:{mem}", f"fsize={fsize}:{fsize}", "core=0:0", f"cpu={cpu}:{cpu + 5}"]
    if nproc is not None:
        args.append(f"nproc={nproc}:{nproc}")
    return [flag for arg in args for flag in ("--rlimit", arg)]


def kernel_argv(
    python: str,
    isolation: Isolation,
    limits: Limits,
    workdir: Path,
    uid: int | None,
    extra_nproc: int,
    runtime: Path | None = None,
    hide: tuple[Path, ...] = (),
) -> list[str]:
    """The full kernel command: launcher, its flags, then ipykernel.

    ``runtime`` is the kernel's own runtime directory (kept visible in its mount
    namespace); ``hide`` are the server's data directories (covered there).
    """
    cmd = launcher_prefix(python)
    if isolation.userns and (isolation.netns or isolation.mount):
        cmd.append("--userns")
    if isolation.netns:
        cmd.append("--netns")
    if isolation.mount:
        cmd += ["--workdir", str(workdir)]
        cmd += ["--keep", str(interpreter_home(python))]
        if runtime is not None:
            cmd += ["--keep", str(runtime)]
        for path in hide:
            cmd += ["--hide", str(path)]
        if isolation.proc:
            cmd.append("--hide-proc")
        if isolation.pidns:
            cmd.append("--pidns")
    if uid is not None:
        cmd += ["--uid", str(uid), "--gid", str(uid)]
    # As root RLIMIT_NPROC only binds once the uid is dropped; without a private
    # uid it counts all of the user's tasks, so the current count is added, and
    # the PID namespace's supervisor and init (then of the same uid) too.
    helpers = 2 if isolation.pidns and uid is None else 0
    cmd += rlimit_args(limits, limits.max_processes + extra_nproc + helpers)
    return [
        *cmd,
        "--",
        python,
        "-m",
        "ipykernel_launcher",
        "-f",
        "{connection_file}",
        "--HistoryManager.enabled=False",
    ]


def user_tasks_now() -> int:
    """Tasks of the current user (the RLIMIT_NPROC base when not dropping uid)."""
    if os.geteuid() == 0:
        return 0
    return tasks_of(os.getuid())


def kernel_process(pid: int, isolation: Isolation) -> int | None:
    """The host pid of the kernel itself, given the launcher's ``pid``.

    Without a PID namespace they are one process; with one, the launcher is the
    supervisor, its child the namespace's init and the kernel the init's child
    that is PID 2 there (see ``_launcher._enter_pid_namespace``). None: not (or
    no longer) running.
    """
    if not isolation.pidns:
        return pid
    init = next(iter(_children(pid)), None)
    if init is None:
        return None
    for child in _children(init):
        try:
            with open(f"/proc/{child}/status") as f:
                nspid = next(line for line in f if line.startswith("NSpid:"))
        except (OSError, StopIteration):
            continue
        if nspid.split()[-1] == "2":
            return child
    return None


def _children(pid: int) -> list[int]:
    """Pids whose parent is ``pid``, from /proc (no CONFIG_PROC_CHILDREN needed)."""
    return [child for child, fields in process_stats() if int(fields[1]) == pid]


def process_stats() -> list[tuple[int, list[str]]]:
    """(pid, fields of /proc/<pid>/stat after the command name) of every process:
    fields[1] is the parent pid, fields[2] the process group, fields[19] the start time."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                found.append((int(name), f.read().rsplit(")", 1)[1].split()))
        except (OSError, IndexError):
            continue
    return found


def cpu_seconds_used(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rearm_cpu_limit(pid: int, seconds: int) -> None:
    """Give the next execution ``seconds`` of CPU on top of what was already used.

    RLIMIT_CPU counts a process's whole life; moving the limit before each
    execution turns it into a per-execution budget. Best effort: without the
    right to raise a hard limit it stays a lifetime budget.
    """
    soft = math.ceil(cpu_seconds_used(pid)) + seconds
    with contextlib.suppress(OSError, ValueError):
        resource.prlimit(pid, resource.RLIMIT_CPU, (soft, soft + 5))
