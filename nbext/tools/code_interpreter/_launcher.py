"""Enter the sandbox, then exec the kernel: run as ``python -S -E _launcher.py``.

This file is executed by path (standard library only, no ``nbext`` import) as
the kernel's argv prefix, so every kernel start and restart goes through it.
Doing this work in a separate short-lived interpreter that then ``exec``s the
kernel, rather than in a ``preexec_fn``, keeps it out of the multi-threaded
server process (``preexec_fn`` may deadlock after ``fork`` there), and the
``exec`` keeps the PID, so signals sent by ``jupyter_client`` reach the kernel.

With ``--pidns`` the kernel gets a PID namespace of its own, which only a
child can enter, so the launcher stays as three processes (see
:func:`_enter_pid_namespace`): the supervisor (the pid ``jupyter_client``
knows), the namespace's init (PID 1) and the kernel (PID 2).

Order matters: the network namespace and the hard resource limits need root,
so they come first; privileges are dropped last, just before ``exec``.

Modes::

    _launcher.py [--userns] [--netns] [--workdir DIR [--keep DIR]... [--hide DIR]... [--hide-proc]
                 [--pidns]]
                 [--uid N --gid N] [--rlimit NAME=SOFT:HARD]... -- ARGV...
    _launcher.py --probe [same flags] -- ARGV...   # JSON report, then run ARGV
    _launcher.py --kill-uid N                      # kill every process of uid N
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import json
import os
import resource
import signal
import socket
import struct

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
MOUNT_POINT = "/mnt/data"
SCRATCH = {"/tmp": "64m", "/dev/shm": "64m", "/var/tmp": "8m", "/run/lock": "1m"}
"""The host's world-writable directories, each replaced in the kernel's mount
namespace by a small private tmpfs: code cannot fill the host's disk through
them, nor see or plant files there for other users."""
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
FORWARDED = frozenset(
    {
        signal.SIGHUP,
        signal.SIGINT,
        signal.SIGQUIT,
        signal.SIGTERM,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGWINCH,
        signal.SIGCONT,
    }
)
"""Signals the supervisor and the init pass on to the kernel (SIGINT: an interrupt)."""
WATCHED = FORWARDED | {signal.SIGCHLD}
SIOCSIFFLAGS = 0x8914
IFF_UP_LOOPBACK_RUNNING = 0x1 | 0x8 | 0x40


def _unshare_user() -> None:
    """A user namespace of our own, for a server that is not root.

    Our uid and gid map to themselves, so files keep their owners and, once the
    kernel is exec'd (not root in here), it holds no capability at all; until
    then the launcher has those of the new namespace, which is all that the
    network and mount namespaces below need.
    """
    uid, gid = os.getuid(), os.getgid()
    libc = ctypes.CDLL(None, use_errno=True)
    _check(libc.unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
    for name, line in (
        ("setgroups", "deny"),
        ("uid_map", f"{uid} {uid} 1"),
        ("gid_map", f"{gid} {gid} 1"),
    ):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(line)


def _unshare_network() -> None:
    """Move into a new, empty network namespace (Python 3.11 has no os.unshare)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"unshare(CLONE_NEWNET): {os.strerror(errno)}")
    # Bring up the namespace's own loopback so local-only libraries still work;
    # it reaches nothing outside the sandbox.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", IFF_UP_LOOPBACK_RUNNING))


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount_workdir(workdir: str, keep: list[str], hide: list[str]) -> None:
    """Show the workdir at /mnt/data in a private mount namespace, and cd there.

    The path the code sees no longer depends on where the server keeps its
    data (which the sandbox uid may not be allowed to traverse, e.g. under
    /root), and it is the path models already use for code_interpreter files.
    The server's data directories (``hide``) are covered by empty read-only
    tmpfs mounts, the world-writable ones by small private ones (``SCRATCH``);
    what must stay visible (``keep``: the kernel's runtime directory with its
    sockets, under the host's /tmp; a venv there) is then bound back at its path.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    check = _check
    check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # Nothing mounted below may propagate back to the host.
    check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    parent = os.path.dirname(MOUNT_POINT).encode()
    check(
        libc.mount(b"tmpfs", parent, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64k,mode=755"),
        "tmpfs on /mnt",
    )
    os.mkdir(MOUNT_POINT)
    check(
        libc.mount(workdir.encode(), MOUNT_POINT.encode(), None, MS_BIND | MS_REC, None),
        "bind workdir",
    )
    # Held open across the mounts that cover it; bound back through /proc/self/fd.
    covered = [*hide, *(p for p in SCRATCH if os.path.isdir(p) and not os.path.islink(p))]
    kept = {
        path: os.open(path, os.O_PATH | os.O_DIRECTORY)
        for path in keep
        if any(path.startswith(top.rstrip("/") + "/") for top in covered)
    }
    flags = MS_NOSUID | MS_NODEV
    for path in hide:
        if os.path.isdir(path):
            check(
                libc.mount(
                    b"tmpfs",
                    path.encode(),
                    b"tmpfs",
                    flags | MS_NOEXEC | MS_RDONLY,
                    b"size=4k,mode=555",
                ),
                f"hide {path}",
            )
    for path, size in SCRATCH.items():
        if os.path.isdir(path) and not os.path.islink(path):
            options = f"size={size},mode=1777".encode()
            check(libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags, options), f"tmpfs {path}")
    for path, fd in kept.items():
        if not os.path.isdir(path):  # under a read-only cover: make room in the cover
            _mkdirs_in_cover(path, hide)
        source = f"/proc/self/fd/{fd}".encode()
        check(libc.mount(source, path.encode(), None, MS_BIND | MS_REC, None), f"keep {path}")
        os.close(fd)
    os.chdir(MOUNT_POINT)


def _mkdirs_in_cover(path: str, hide: list[str]) -> None:
    """Create ``path`` inside a read-only cover of ``hide``: remount it writable for
    the ``mkdir``, then read-only again."""
    libc = ctypes.CDLL(None, use_errno=True)
    top = next((h for h in hide if path.startswith(h.rstrip("/") + "/")), None)
    if top is None:
        os.makedirs(path, exist_ok=True)
        return
    remount = 0x20  # MS_REMOUNT
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    _check(libc.mount(None, top.encode(), None, remount | flags, b"size=4k,mode=555"), "remount rw")
    os.makedirs(path, exist_ok=True)
    _check(
        libc.mount(None, top.encode(), None, remount | flags | MS_RDONLY, b"size=4k,mode=555"),
        "remount ro",
    )


def _hide_processes(hidepid: bool = True) -> None:
    """A /proc of our own that lists only the sandbox uid's processes (hidepid).

    Other users' processes, the server's included, vanish: no command lines,
    no environments, no pids to aim at. Needs the private mount namespace.
    Mounted from inside a PID namespace, it lists that namespace's processes
    only (``hidepid`` False: all of them).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if not hidepid:
        _check(libc.mount(b"proc", b"/proc", b"proc", flags, None), "mount /proc")
    elif libc.mount(b"proc", b"/proc", b"proc", flags, b"hidepid=invisible") != 0:
        _check(libc.mount(b"proc", b"/proc", b"proc", flags, b"hidepid=2"), "mount /proc hidepid")


def _enter_pid_namespace(hidepid: bool) -> None:
    """Continue as PID 2 of a new PID namespace with a /proc of its own.

    ``unshare(CLONE_NEWPID)`` moves only the children, so this forks twice:

    * this process stays outside as the *supervisor*: it is the pid that
      ``jupyter_client`` signals (``killpg`` on its process group, which holds
      nothing else) and waits for, so it passes signals on, exits as the
      kernel did (same code, same signal), and kills the namespace when the
      server is gone (the kernel no longer sees its parent to notice);
    * its child is the namespace's *init* (PID 1): PID 1 drops every signal it
      has no handler for, even SIGXCPU from RLIMIT_CPU or SIGTERM, so the
      kernel must not be PID 1. The init mounts the fresh /proc, passes
      signals on to the kernel's process group, reaps orphans (no zombies
      pile up) and reports the kernel's wait status. It dies with its parent
      (``PR_SET_PDEATHSIG``), and the kernel takes everything in the
      namespace with it when it dies: SIGKILLing the supervisor's pid (the disk
      watcher, ``shutdown_kernel``, the reaper) ends every process the code started;
    * the grandchild returns from here and becomes the kernel (PID 2), a
      normal process in its own process group, which its subprocesses share
      (so an interrupt reaches them too, as it did without the namespace).

    Raises OSError (before any fork, or in the init: then that process carries
    on as the kernel, in the probe only) when the host refuses.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    _check(libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
    # Blocked before forking, so no signal is lost (or kills us) in between;
    # each process takes them with sigtimedwait, the kernel gets the mask back.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    lifeline_read, lifeline_write = os.pipe()  # EOF: the supervisor is gone
    status_read, status_write = os.pipe()  # the kernel's wait status, init -> supervisor
    init = os.fork()
    if init:
        os.close(lifeline_read)
        os.close(status_write)
        _supervise(init, status_read)
    os.close(lifeline_write)
    os.close(status_read)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    os.set_blocking(lifeline_read, False)
    try:
        if os.read(lifeline_read, 1) == b"":
            os._exit(1)  # the supervisor died before the death signal was armed
    except BlockingIOError:
        pass
    os.close(lifeline_read)
    os.setpgid(0, 0)  # out of the supervisor's group: a killpg there reaches us once, through it
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # the kernel (same uid, unprivileged) cannot ptrace us
    for signum in WATCHED:
        # PID 1 drops signals it has no handler for: a no-op one makes them queue.
        signal.signal(signum, _ignore)
    try:
        _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS) for /proc")
        _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
        _hide_processes(hidepid)
    except OSError:
        _restore_signals(mask)
        raise
    kernel = os.fork()
    if kernel == 0:
        os.close(status_write)
        _restore_signals(mask)
        os.setpgid(0, 0)
        # ipykernel would read "parent is PID 1" as "the server died" and exit.
        os.environ.pop("JPY_PARENT_PID", None)
        return
    with contextlib.suppress(OSError):
        os.setpgid(kernel, kernel)  # whichever of the two runs first
    _init(kernel, status_write)


def _ignore(signum: int, frame: object) -> None:
    """A handler that is never run (the signals are blocked): its presence is what counts."""


def _restore_signals(mask: set[signal.Signals]) -> None:
    for signum in WATCHED:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _init(kernel: int, status_write: int) -> None:
    """PID 1 of the kernel's namespace: pass signals on, reap, report the kernel's end."""
    while True:
        info = signal.sigtimedwait(WATCHED, 1.0)
        if info is not None and info.si_signo != signal.SIGCHLD:
            try:
                os.killpg(kernel, info.si_signo)
            except OSError:  # it left its group (setsid): the kernel alone then
                with contextlib.suppress(OSError):
                    os.kill(kernel, info.si_signo)
            continue
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                os._exit(1)
            if pid == 0:
                break
            if pid == kernel:
                os.write(status_write, struct.pack("i", status))
                os._exit(0)  # and the namespace's other processes are SIGKILLed with us


def _supervise(init: int, status_read: int) -> None:
    """Outside the namespace: pass signals to the init, exit as the kernel did."""
    server = os.getppid()
    while True:
        info = signal.sigtimedwait(WATCHED, 0.5)
        if info is not None and info.si_signo != signal.SIGCHLD:
            with contextlib.suppress(ProcessLookupError):
                os.kill(init, info.si_signo)
        elif info is None and os.getppid() != server:
            # The server died (it ran no shutdown): its kernels go with it.
            with contextlib.suppress(ProcessLookupError):
                os.kill(init, signal.SIGKILL)
        pid, status = os.waitpid(init, os.WNOHANG)
        if pid:
            break
    reported = os.read(status_read, 4)
    if len(reported) == 4:
        status = struct.unpack("i", reported)[0]
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)
    os._exit(os.waitstatus_to_exitcode(status))


def _no_new_privileges() -> None:
    """Forbid regaining privileges through set-uid binaries (su, sudo, ping...)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _drop_to(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def _apply_rlimits(specs: list[str]) -> None:
    for spec in specs:
        name, _, values = spec.partition("=")
        soft, _, hard = values.partition(":")
        resource.setrlimit(getattr(resource, f"RLIMIT_{name.upper()}"), (int(soft), int(hard)))


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid`` at once: the one sure way to end a fork bomb.

    ``kill(-1, sig)`` from a process with that uid signals all processes it may
    signal (exactly those of the uid) in one atomic sweep, so nothing can fork
    in between.
    """
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--probe", action="store_true", help="print a JSON report first")
    parser.add_argument("--kill-uid", type=int)
    parser.add_argument("--userns", action="store_true", help="not root: a user namespace first")
    parser.add_argument("--netns", action="store_true")
    parser.add_argument("--workdir", help="bind this directory at /mnt/data")
    parser.add_argument("--keep", action="append", default=[], help="keep this visible")
    parser.add_argument("--hide", action="append", default=[], help="cover this directory")
    parser.add_argument("--hide-proc", action="store_true", help="a /proc without others")
    parser.add_argument("--pidns", action="store_true", help="a PID namespace and its /proc")
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    parser.add_argument("--rlimit", action="append", default=[])
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.kill_uid is not None:
        _kill_uid(args.kill_uid)
        return
    if not args.argv or args.argv[0] != "--" or len(args.argv) < 2:
        parser.error("missing '-- ARGV...'")
    argv = args.argv[1:]
    # In probe mode each step is tried and reported; otherwise any failure
    # aborts the launch (the manager only asks for what the probe proved works).
    report: dict[str, object] = {
        "userns": False,
        "netns": False,
        "mount": False,
        "proc": False,
        "pidns": False,
        "setuid": False,
        "errors": [],
    }
    errors: list[str] = report["errors"]  # type: ignore[assignment]
    if args.userns and os.geteuid() != 0:
        try:
            _unshare_user()
            report["userns"] = True
        except OSError as exc:
            if not args.probe:
                raise
            errors.append(str(exc))
    if args.netns:
        try:
            _unshare_network()
            report["netns"] = True
        except OSError as exc:
            if not args.probe:
                raise
            errors.append(str(exc))
    if args.workdir:
        try:
            _mount_workdir(args.workdir, args.keep, args.hide)
            report["mount"] = True
        except OSError as exc:
            if not args.probe:
                raise
            errors.append(str(exc))
    # Before the PID namespace: its supervisor and init run under the same
    # limits (so the kernel's can be read from the pid jupyter_client knows).
    _apply_rlimits(args.rlimit)
    _no_new_privileges()
    if args.pidns and report["mount"]:
        try:
            _enter_pid_namespace(args.hide_proc)
            report["pidns"] = True
            report["proc"] = args.hide_proc
        except OSError as exc:
            if not args.probe:
                raise
            errors.append(str(exc))
    if args.hide_proc and report["mount"] and not report["pidns"]:
        try:
            _hide_processes()
            report["proc"] = True
        except OSError as exc:
            if not args.probe:
                raise
            errors.append(str(exc))
    # The interpreter may live under a directory the sandbox user cannot
    # search (pyenv under a 0700 /root); the binary itself is world-executable,
    # so it is opened before dropping privileges and exec'd by descriptor.
    exe = os.open(argv[0], os.O_RDONLY | os.O_CLOEXEC)
    if args.uid is not None:
        try:
            _drop_to(args.uid, args.gid if args.gid is not None else args.uid)
            report["setuid"] = True
        except OSError as exc:
            if not args.probe:
                raise
            errors.append(f"setuid({args.uid}): {exc}")
    os.umask(0o022)
    if args.probe:
        print(json.dumps(report), flush=True)
    os.execve(exe, argv, os.environ)


if __name__ == "__main__":
    main()
