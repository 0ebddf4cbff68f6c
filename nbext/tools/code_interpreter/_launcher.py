"""Enter the sandbox, then exec the kernel: run as ``python -S -E _launcher.py``.

This file is executed by path (standard library only, no ``nbext`` import) as
the kernel's argv prefix, so every kernel start and restart goes through it.
Doing this work in a separate short-lived interpreter that then ``exec``s the
kernel, rather than in a ``preexec_fn``, keeps it out of the multi-threaded
server process (``preexec_fn`` may deadlock after ``fork`` there), and the
``exec`` keeps the PID, so signals sent by ``jupyter_client`` reach the kernel.

Order matters: the network namespace and the hard resource limits need root,
so they come first; privileges are dropped last, just before ``exec``.

Modes::

    _launcher.py [--userns] [--netns] [--workdir DIR [--keep DIR]... [--hide DIR]... [--hide-proc]]
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
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
MOUNT_POINT = "/mnt/data"
SCRATCH = {"/tmp": "64m", "/dev/shm": "64m", "/var/tmp": "8m", "/run/lock": "1m"}
"""The host's world-writable directories, each replaced in the kernel's mount
namespace by a small private tmpfs: code cannot fill the host's disk through
them, nor see or plant files there for other users."""
PR_SET_NO_NEW_PRIVS = 38
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
    for name, line in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                       ("gid_map", f"{gid} {gid} 1")):
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
    check(libc.mount(b"tmpfs", parent, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64k,mode=755"),
          "tmpfs on /mnt")
    os.mkdir(MOUNT_POINT)
    check(libc.mount(workdir.encode(), MOUNT_POINT.encode(), None, MS_BIND | MS_REC, None),
          "bind workdir")
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
            check(libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags | MS_NOEXEC | MS_RDONLY,
                             b"size=4k,mode=555"), f"hide {path}")
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
    _check(libc.mount(None, top.encode(), None, remount | flags | MS_RDONLY, b"size=4k,mode=555"),
           "remount ro")


def _hide_processes() -> None:
    """A /proc of our own that lists only the sandbox uid's processes (hidepid).

    Other users' processes, the server's included, vanish: no command lines,
    no environments, no pids to aim at. Needs the private mount namespace.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if libc.mount(b"proc", b"/proc", b"proc", flags, b"hidepid=invisible") != 0:
        _check(libc.mount(b"proc", b"/proc", b"proc", flags, b"hidepid=2"), "mount /proc hidepid")


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
        "userns": False, "netns": False, "mount": False, "proc": False, "setuid": False,
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
    if args.hide_proc and report["mount"]:
        try:
            _hide_processes()
            report["proc"] = True
        except OSError as exc:
            if not args.probe:
                raise
            errors.append(str(exc))
    _apply_rlimits(args.rlimit)
    _no_new_privileges()
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
