"""code_interpreter under attack: every escape attempt, as root and as an unprivileged user.

``tests/sandbox_attacks.py`` runs each attempt against a real server's sandbox
and returns its verdict; here it runs twice, in a process of its own each
time (the server's secrets must be in its starting environment):

* as root, where every protection is on (private uid, network and mount
  namespaces, a /proc without other users' processes);
* as a fresh unprivileged uid: a user namespace per kernel gives it the
  network, mount and PID namespaces (a /proc of its own), but kernels share
  the server's uid.

Each verdict must be the one the README's "Sandbox" table states, so the table
is measured, not written from memory. The unprivileged run needs an
interpreter that uid may execute and packages it may read: the shared venv's
python links into root's 0700 home, and the checkout itself may lie under a
0700 directory, so the test builds a venv that every user can reach (a link to
the system ``python3.11``, whose version the venv's packages were installed
for, and the venv's site-packages bind-mounted in a mount namespace of the
run's own) and runs a copy of nbext and of the harness.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_attacks import ATTACKS, SECRET

from nbext.tools.code_interpreter import sandbox

ROOT = Path(__file__).resolve().parent.parent
HARNESS = Path(__file__).with_name("sandbox_attacks.py")
README = ROOT / "README.md"
SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
VERDICTS = ("blocked", "contained", "not protected")


def _readme_table() -> dict[str, tuple[str, str]]:
    """Attempt -> (verdict as root, verdict unprivileged), from the README's Sandbox table."""
    text = README.read_text()
    section = text.split("### Sandbox", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    rows: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[1].strip("*") not in VERDICTS:
            continue
        rows[cells[0]] = (cells[1].strip("*"), cells[2].strip("*"))
    return rows


def _harness_env(home: Path, source: Path = ROOT) -> dict[str, str]:
    """A server's environment: the secrets it must not leak, ``source`` (holding
    ``nbext/``) on the path."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(source),
        "OPENAI_API_KEY": SECRET,
        "NBEXT_BACKEND_KEY": SECRET,
    }


def _run(argv: list[str], env: dict[str, str]) -> dict[str, dict[str, str]]:
    done = subprocess.run(
        ["nice", "-n", "15", *argv], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _host_resolves() -> bool:
    try:
        socket.getaddrinfo("pypi.org", 443)
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def as_root(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    if os.geteuid() != 0:
        pytest.skip("the root run needs root")
    isolation = sandbox.probe()
    if not (
        isolation.netns
        and isolation.mount
        and isolation.proc
        and isolation.pidns
        and isolation.setuid
    ):
        pytest.skip(f"this host does not allow every protection: {isolation}")
    base = tmp_path_factory.mktemp("attacks-root")
    (base / "home").mkdir()
    return _run([sys.executable, str(HARNESS), str(base / "data")], _harness_env(base / "home"))


@pytest.fixture(scope="module")
def as_user() -> Iterator[dict[str, dict[str, str]]]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("switching to an unprivileged uid needs root and setpriv")
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"no {SYSTEM_PYTHON} for the unprivileged server")
    busy = sandbox.uids_in_use()
    uid = 1_400_000_000 + random.randrange(10**6)  # below the sandbox range, unused
    while uid in busy:
        uid += 1
    # Not under pytest's tmp_path: /tmp/pytest-of-root is 0700.
    base = Path(tempfile.mkdtemp(prefix="nbext-attacks-user-"))
    base.chmod(0o755)
    venv = base / "venv"
    site = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(SYSTEM_PYTHON)
    (venv / "lib" / site.name).mkdir(parents=True)
    # The packages are bind-mounted here for the run: the venv may sit where that uid
    # cannot pass (a fresh clone under a 0700 directory). Inside the venv, which the
    # sandbox keeps visible to the kernels (the rest of /tmp it covers).
    packages = venv / "lib" / site.name / "site-packages"
    packages.mkdir()
    (venv / "pyvenv.cfg").write_text(f"home = {SYSTEM_PYTHON.parent}\n")
    for name in ("home", "data"):
        (base / name).mkdir()
        os.chown(base / name, uid, uid)
    # The checkout may sit where that uid cannot read (a fresh clone under a 0700
    # directory): it runs a copy of nbext and of the harness, readable by all.
    source = base / "src"
    shutil.copytree(ROOT / "nbext", source / "nbext", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(HARNESS, source / HARNESS.name)
    for path in source.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    source.chmod(0o755)
    argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    userns = subprocess.run([*argv, "unshare", "--user", "--net", "true"], check=False)
    if userns.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip("this host gives unprivileged users no user namespaces: another column")
    argv += [str(venv / "bin" / "python"), str(source / HARNESS.name), str(base / "data")]
    # A mount namespace of the run's own: the bind mount never shows on the host, so
    # removing ``base`` afterwards cannot reach the real site-packages.
    mount = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
    argv = [
        *("unshare", "--mount", "--propagation", "private", "--", "sh", "-c", mount, "sh"),
        *(str(site / "site-packages"), str(packages), *argv),
    ]
    try:
        yield _run(argv, _harness_env(base / "home", source))
    finally:
        shutil.rmtree(base, ignore_errors=True)


NAMES = [attack.name for attack in ATTACKS]


def test_readme_table_has_every_attempt() -> None:
    assert sorted(_readme_table()) == sorted(NAMES)


def _check(found: dict[str, dict[str, str]], name: str, column: int) -> None:
    if name == "resolve a name (DNS)" and not _host_resolves():
        pytest.skip("this host resolves no names itself: nothing to block")
    expected = _readme_table()[name][column]
    got = found[name]
    assert got["verdict"] == expected, f"{name}: {got['reason']} ({found['_isolation']})"
    assert got["reason"]


@pytest.mark.parametrize("name", NAMES)
def test_as_root(as_root: dict[str, dict[str, str]], name: str) -> None:
    _check(as_root, name, 0)


@pytest.mark.parametrize("name", NAMES)
def test_as_unprivileged_user(as_user: dict[str, dict[str, str]], name: str) -> None:
    _check(as_user, name, 1)


def test_the_runs_had_the_protections_the_table_assumes(
    as_root: dict[str, dict[str, str]], as_user: dict[str, dict[str, str]]
) -> None:
    # Otherwise a column would describe some other mix of protections.
    root = as_root["_isolation"]["reason"]
    assert "netns=True mount=True proc=True pidns=True setuid=True uid=0" in root, root
    user = as_user["_isolation"]["reason"]
    assert re.search(
        r"userns=True netns=True mount=True proc=False pidns=True setuid=False uid=14\d{8}$", user
    )
