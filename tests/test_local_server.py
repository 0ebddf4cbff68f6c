"""The per-user local server: outside the kernel, shared, restartable, private.

Real kernels (jupyter_client), a real server process, the real model. Each
test has a data directory of its own, so it starts and stops its own server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import fresh_home
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

from nbext import local_server
from nbext.config import Settings


@pytest.fixture
def home() -> Iterator[Path]:
    path = fresh_home(Settings.from_env(), "nbext-local-")
    yield path
    local_server.stop_all(Settings.from_env({"NBEXT_HOME": str(path)}))


def settings_for(home: Path) -> Settings:
    return Settings.from_env({**os.environ, "NBEXT_HOME": str(home)})


class Kernel:
    """A real IPython kernel with the kit loaded, in ``home``."""

    def __init__(self, home: Path) -> None:
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env={**os.environ, "NBEXT_HOME": str(home)})
        self.client: BlockingKernelClient = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.run("%load_ext nbext")

    def run(self, code: str, timeout: float = 300, on_output: Any = None) -> str:
        """Run a cell; return everything it showed as text (errors included)."""
        msg_id = self.client.execute(code)
        shown: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            message = self.client.get_iopub_msg(timeout=max(1.0, deadline - time.monotonic()))
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                shown.append(content["text"])
            elif kind in ("display_data", "execute_result", "update_display_data"):
                shown.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                shown.append("\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                return "\n".join(shown)
            if on_output is not None and shown:
                on_output("\n".join(shown))

    def value(self, expression: str) -> Any:
        return json.loads(self.run(f"import json; print(json.dumps({expression}))"))

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernels(home: Path) -> Iterator[list[Kernel]]:
    started: list[Kernel] = []
    yield started
    for kernel in started:
        kernel.shutdown()


def server_pid(home: Path) -> int:
    info = local_server.find(settings_for(home))
    assert info is not None, "no local server is running"
    return info.pid


@pytest.mark.timeout(600)
def test_a_kernel_survives_a_server_killed_mid_stream(home: Path, kernels: list[Kernel]) -> None:
    kernel = Kernel(home)
    kernels.append(kernel)
    kernel.run("precious = 41\nfrom nbext.client import make_client\nclient = make_client()")
    thread_id = kernel.value(
        "client.beta.threads.create(messages=[{'role': 'user', 'content': 'keep me'}]).id"
    )
    pid = server_pid(home)
    killed: list[int] = []

    def kill_once_streaming(text: str) -> None:
        # Kill only once the answer is visibly streaming into the cell.
        if not killed and "5" in text:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    shown = kernel.run(
        "%%chat --temperature 0 --max-tokens 600\n"
        "Count from 1 to 200, one number per line, nothing else.",
        on_output=kill_once_streaming,
    )
    assert killed, "the answer never streamed, so the server was not killed mid-stream"
    assert "nbext error" in shown and "killed by SIGKILL" in shown, shown
    assert "Traceback" not in shown

    # The kernel is alive, its variables intact; the next cell restarts the server.
    assert kernel.value("precious") == 41
    shown = kernel.run("%%chat --temperature 0 --max-tokens 20 --out again\nSay hello.")
    assert "nbext error" not in shown, shown
    assert kernel.value("again.choices[0].finish_reason") in ("stop", "length")
    assert server_pid(home) != pid

    # The thread made before the crash is still there, with its message.
    listed = f"make_client().beta.threads.messages.list({thread_id!r})"
    assert kernel.value(f"[m.content[0].text.value for m in {listed}]") == ["keep me"]


@pytest.mark.timeout(600)
def test_kernels_share_one_server(home: Path, kernels: list[Kernel]) -> None:
    # Loading the kit in both kernels at once: two starts race, one server wins.
    kernels.extend([Kernel(home), Kernel(home)])
    pids = {
        kernel.value(
            "__import__('nbext.client').client.make_client() and "
            "__import__('nbext.local_server').local_server.find().pid"
        )
        for kernel in kernels
    }
    assert len(pids) == 1
    for kernel in kernels:
        shown = kernel.run("%%chat --temperature 0 --max-tokens 10\nSay hi.")
        assert "nbext error" not in shown, shown
    assert {server_pid(home)} == pids
    servers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _is_server(p, home)]
    assert len(servers) == 1


def _is_server(proc: Path, home: Path) -> bool:
    try:
        cmdline = (proc / "cmdline").read_bytes()
        environ = (proc / "environ").read_bytes()
    except OSError:
        return False
    return b"nbext.server.local" in cmdline and f"NBEXT_HOME={home}".encode() in environ


def test_run_files_are_private(home: Path) -> None:
    settings = settings_for(home)
    local_server.server_key(settings)
    assert settings.run_dir.stat().st_mode & 0o777 == 0o700
    assert (settings.run_dir / "key").stat().st_mode & 0o777 == 0o600
    assert local_server.server_key(settings) == local_server.server_key(settings)


def _get(url: str, key: str | None) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.timeout(300)
def test_the_server_answers_only_its_user(home: Path) -> None:
    settings = settings_for(home)
    info = local_server.ensure(settings)
    url = f"{info.base_url}/assistants"
    assert _get(url, local_server.server_key(settings)) == 200
    assert _get(url, None) == 401
    assert _get(url, "nbext-local-guess") == 401
    assert _get(f"{info.base_url}/nbext/status", None) == 401
    with urllib.request.urlopen(f"http://127.0.0.1:{info.port}/health", timeout=10) as health:
        assert json.loads(health.read()) == {"status": "ok"}  # alive, and nothing more


OTHER_USER = """
import json, sys, urllib.error, urllib.request
key_file, url = sys.argv[1], sys.argv[2]
try:
    open(key_file).read()
    read = "read"
except PermissionError:
    read = "denied"
try:
    urllib.request.urlopen(url, timeout=10)
    status = 200
except urllib.error.HTTPError as error:
    status = error.code
print(json.dumps({"key": read, "status": status}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another uid needs root")
@pytest.mark.timeout(300)
def test_another_uid_is_refused(home: Path) -> None:
    settings = settings_for(home)
    info = local_server.ensure(settings)
    nobody = 65534
    # The system's interpreter: another user cannot enter root's home, where
    # this venv's interpreter may live.
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    done = subprocess.run(
        [
            python,
            "-I",
            "-c",
            OTHER_USER,
            str(settings.run_dir / "key"),
            f"{info.base_url}/assistants",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        user=nobody,
        group=nobody,
        extra_groups=[],
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"key": "denied", "status": 401}


def test_newer_code_or_other_aliases_get_a_server_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel started after nbext was upgraded must not borrow a server that
    still runs the old code; nor may a kernel with other model aliases."""
    settings = Settings.from_env({"NBEXT_HOME": str(tmp_path)})
    name = local_server.config_name(settings)
    assert local_server.config_name(settings) == name  # stable for the same code
    strict = Settings.from_env({"NBEXT_HOME": str(tmp_path), "NBEXT_MODEL_ALIASES": "strict"})
    assert local_server.config_name(strict) != name
    monkeypatch.setattr(local_server, "code_fingerprint", lambda: "other-code")
    assert local_server.config_name(settings) != name


def test_the_code_fingerprint_follows_the_files(tmp_path: Path) -> None:
    package = tmp_path / "nbext"
    (package / "api").mkdir(parents=True)
    (package / "api" / "router.py").write_text("x = 1\n")
    first = local_server.fingerprint_of(package)
    assert local_server.fingerprint_of(package) == first
    (package / "api" / "router.py").write_text("x = 22\n")  # an edit (another size)
    assert local_server.fingerprint_of(package) != first
    edited = local_server.fingerprint_of(package)
    (package / "new.py").write_text("")  # a module added by an upgrade
    assert local_server.fingerprint_of(package) != edited
