"""The kernel's working directory: placing input files, finding output files.

The server (often root) reads and writes a directory that untrusted code also
writes. So nothing here follows a symlink the code may have planted: input
names are flat, files are opened with ``O_NOFOLLOW``, and when the kernel runs
as its own uid only files owned by that uid are returned (a hard link to a
file the server can read but the sandbox cannot is never handed back).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nbext.tools.code_interpreter.result import OutputFile

Snapshot = dict[str, tuple[int, int, int]]
"""relative path -> (mtime_ns, size, inode) of every regular file."""

SKIP_DIRS = frozenset({"__pycache__", ".ipynb_checkpoints"})
MAX_ENTRIES = 10_000


def check_name(name: str) -> str:
    """A flat file name: no directories, no ``..``, nothing hidden in it."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"invalid file name {name!r}: use a plain name such as 'data.csv'")
    return name


def put_file(workdir: Path, name: str, data: bytes, owner: int | None) -> Path:
    """Write ``data`` as ``workdir/name``, replacing a planted symlink, never following it."""
    path = workdir / check_name(name)
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
        if owner is not None:
            os.fchown(fd, owner, owner)
    finally:
        os.close(fd)
    return path


def snapshot(workdir: Path) -> Snapshot:
    """Stat every regular file under ``workdir`` without following symlinks."""
    found: Snapshot = {}
    stack = [(workdir, "")]
    while stack and len(found) < MAX_ENTRIES:
        directory, prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            rel = prefix + entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIP_DIRS:
                        stack.append((Path(entry.path), rel + "/"))
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    found[rel] = (st.st_mtime_ns, st.st_size, st.st_ino)
            except OSError:
                continue
    return found


BLOCK = 4096
"""What each file or directory counts for at least in :func:`disk_usage`, so that
a million empty files (inodes) fill the budget as surely as one large file."""


def disk_usage(roots: list[Path], stop_above: int) -> int:
    """Bytes allocated under ``roots`` (blocks, not apparent sizes: sparse files are
    cheap), without following symlinks; the walk ends once ``stop_above`` is passed."""
    total = 0
    stack = list(roots)
    while stack and total <= stop_above:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += max(st.st_blocks * 512, BLOCK)
            if stat.S_ISDIR(st.st_mode):
                stack.append(Path(entry.path))
    return total


def remove_new_files(workdir: Path, before: Snapshot) -> int:
    """Delete the regular files that are not in ``before``; the kernel must be
    stopped (nothing may swap a directory for a symlink meanwhile). Returns how many."""
    removed = 0
    for rel in snapshot(workdir).keys() - before.keys():
        try:
            (workdir / rel).unlink()
            removed += 1
        except OSError:
            continue
    return removed


def changed_files(
    workdir: Path, before: Snapshot, owner: int | None, max_bytes: int, notes: list[str]
) -> list[OutputFile]:
    """Files new or modified since ``before``, read safely; oversized ones are noted."""
    after = snapshot(workdir)
    out = []
    for rel in sorted(after):
        if before.get(rel) == after[rel]:
            continue
        data = _read(workdir / rel, owner, max_bytes)
        if data is None:
            notes.append(f"[file {rel} not returned: larger than {max_bytes // 1024**2} MB]")
        elif data is not False:
            out.append(OutputFile(rel, data))
    return out


def _read(path: Path, owner: int | None, max_bytes: int) -> bytes | bool | None:
    """The file's bytes; ``None`` when too large; ``False`` when it must not be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (owner is not None and st.st_uid != owner):
            return False
        if st.st_size > max_bytes:
            return None
        return f.read(max_bytes + 1)[:max_bytes]


def chown_tree(root: Path, owner: int) -> None:
    """Hand the whole workdir to the kernel's uid (it changes across restarts)."""
    os.chown(root, owner, owner, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), owner, owner, follow_symlinks=False)
