"""Crash drills: a real ``nbext serve`` is SIGKILLed mid-work and started again.

Each drill starts work, kills the server process at the worst moment, starts
a new server on the same ``NBEXT_HOME`` (database and files directory) and
checks what the restart left behind: no run still ``queued``/``in_progress``/
``cancelling``, the files directory and the file rows agreeing byte for byte,
vector-store ingestion resumed, no process of the dead server still running,
and every thread reading back intact. The server one drill starts again is the
one the next drill kills. The README's "Crash drills" table lists the outcomes.

The runs use the embedded model at temperature 0, on prompts whose outcome
does not depend on the CPU (a forced tool call, a long answer that is still
streaming when it is killed).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import pytest
from api_helpers import free_port, start_serve, wait_for_status
from conftest import WEATHER_TOOL, fresh_home
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openai.types.beta import Thread
from pinned_model import MODEL_ID

from nbext.config import Settings
from nbext.ids import new_id
from nbext.server.error_handlers import install_error_handlers
from nbext.store import THREADS, Store

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

UNFINISHED = ("queued", "in_progress", "cancelling")
SLEEPER = "sleep 291"  # a child of the sandboxed kernel, found by its command line
KILLED_MID_EXECUTION = (
    "import subprocess, time\n"
    f"subprocess.Popen({SLEEPER.split()!r})\n"
    "print('started', flush=True)\n"
    "time.sleep(50)"
)


# -- processes ------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (state, ppid, pgrp, ... starttime at [19])."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class Proc:
    pid: int
    started: str  # start time in clock ticks: a reused pid has another one
    cmdline: str

    def alive(self) -> bool:
        fields = _stat(self.pid)
        return fields is not None and fields[19] == self.started and fields[0] != "Z"


def descendants(root: int) -> list[Proc]:
    """Every process below ``root`` (by parent pid), with its start time."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (fields := _stat(int(name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(name))
    found, stack = [], list(children.get(root, []))
    while stack:
        pid = stack.pop()
        fields = _stat(pid)
        if fields is not None:
            found.append(Proc(pid, fields[19], _cmdline(pid)))
        stack.extend(children.get(pid, []))
    return found


# -- one home, one server process at a time -------------------------------------------------


@dataclass
class Serve:
    """``nbext serve`` on one home: started, killed with SIGKILL, started again."""

    home: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    orphans: list[Proc] = field(default_factory=list)
    """What the last killed server had below it (kernels, their children)."""
    killed_pid: int | None = None
    ever: list[Proc] = field(default_factory=list)
    """Every process any kill left below the server: the teardown's list."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def db(self) -> Path:
        return self.home / "nbext.sqlite3"

    @property
    def files_dir(self) -> Path:
        return self.home / "files"

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key="x", max_retries=0, timeout=120)

    def start(self) -> None:
        env = {"NBEXT_HOME": str(self.home), "NBEXT_DB_URL": "", "NBEXT_SERVER_URL": ""}
        self.process = start_serve(env, self.port)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no atexit, no finally runs in the server."""
        assert self.process is not None and self.process.poll() is None, "not running"
        self.orphans = descendants(self.process.pid)
        self.killed_pid = self.process.pid
        self.ever.extend(self.orphans)
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None

    def rows(self, sql: str, *args: object) -> list[tuple]:
        """The database as another process sees it (read only)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as conn:
            return conn.execute(sql, args).fetchall()


def assert_consistent(serve: Serve) -> None:
    """What every restart must leave: checked after each drill."""
    assert serve.rows("PRAGMA integrity_check") == [("ok",)]
    # Not one run a dead worker left unfinished; a failed one says why.
    for run_id, status, data in serve.rows("SELECT id, status, data FROM runs"):
        assert status not in UNFINISHED, f"{run_id} is still {status}"
        run = json.loads(data)
        assert run["status"] == status
        if status == "failed":
            assert run["last_error"]["message"], run_id
        for field_name in ("failed_at", "completed_at", "cancelled_at"):
            if run[field_name] is not None:
                assert run[field_name] >= run["created_at"]
    # Run steps and messages the dead run left open are closed.
    for step_id, data in serve.rows("SELECT id, data FROM run_steps"):
        assert json.loads(data)["status"] != "in_progress", step_id
    for message_id, data in serve.rows("SELECT id, data FROM messages"):
        assert json.loads(data)["status"] != "in_progress", message_id
    # The files directory holds exactly the bytes of the file rows.
    rows = {
        file_id: json.loads(data)["bytes"]
        for file_id, data in serve.rows("SELECT id, data FROM files")
    }
    on_disk = {p.name: p.stat().st_size for p in serve.files_dir.iterdir()}
    assert on_disk == rows
    # Nothing the dead server started is still running.
    left = [p for p in serve.orphans if p.alive()]
    assert left == [], f"processes of the killed server still run: {left}"
    # Nor the private runtime directory (connection files, sockets) of its kernels.
    for kernel in serve.orphans:
        if " -f " in kernel.cmdline and "ipykernel" in kernel.cmdline:
            runtime = Path(kernel.cmdline.split(" -f ", 1)[1].split()[0]).parent
            assert not runtime.exists(), f"{runtime} of a dead kernel is left"


@pytest.fixture(scope="module")
def serve() -> Iterator[Serve]:
    home = fresh_home(Settings.from_env(), "nbext-drills-")
    running = Serve(home)
    running.start()
    yield running
    running.stop()
    for leftover in running.ever:  # only if a drill failed: leave nothing behind
        if leftover.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover.pid, signal.SIGKILL)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def sdk(serve: Serve) -> openai.OpenAI:
    return serve.client()


def stream_until(response: httpx.Response, event: str, count: int = 1) -> None:
    """Read a run's SSE stream until ``event`` has arrived ``count`` times."""
    seen = 0
    for line in response.iter_lines():
        if line == f"event: {event}":
            seen += 1
            if seen >= count:
                return
    raise AssertionError(f"the stream ended before {count} x {event}")


# -- the drills -----------------------------------------------------------------------------


def test_kill_mid_stream_of_a_text_run(serve: Serve, sdk: openai.OpenAI) -> None:
    question = "Write a long, detailed story about a lighthouse keeper, in 40 paragraphs."
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": question}])
    writer = sdk.beta.assistants.create(model=MODEL_ID, temperature=0)
    body = {"assistant_id": writer.id, "stream": True}
    with httpx.stream(
        "POST", f"{serve.url}/threads/{thread.id}/runs", json=body, timeout=120
    ) as response:
        assert response.status_code == 200
        stream_until(response, "thread.message.delta", count=5)  # words are on the wire
        serve.restart()

    sdk = serve.client()
    (run,) = sdk.beta.threads.runs.list(thread.id).data
    assert run.status == "failed" and run.last_error.code == "server_error"
    assert "restarted" in run.last_error.message
    messages = sdk.beta.threads.messages.list(thread.id, order="asc").data
    assert messages[0].role == "user"
    assert messages[0].content[0].text.value == question
    for answer in messages[1:]:
        assert answer.status == "incomplete" and answer.incomplete_details.reason == "run_failed"
    # The thread takes new work again.
    sdk.beta.threads.messages.create(thread.id, role="user", content="Still there?")
    assert_consistent(serve)


def test_kill_during_a_code_interpreter_execution(serve: Serve, sdk: openai.OpenAI) -> None:
    coder = sdk.beta.assistants.create(
        model=MODEL_ID,
        instructions="Use the code_interpreter tool to run the code the user gives.",
        tools=[{"type": "code_interpreter"}],
        temperature=0,
    )
    prompt = f"Run this code exactly:\n```python\n{KILLED_MID_EXECUTION}\n```"
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": prompt}])
    run = sdk.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=coder.id, tool_choice={"type": "code_interpreter"}
    )
    assert serve.process is not None
    deadline = time.monotonic() + 120
    while not any(SLEEPER in p.cmdline for p in descendants(serve.process.pid)):
        assert time.monotonic() < deadline, "the code never started its child process"
        assert sdk.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status in UNFINISHED
        time.sleep(0.2)
    serve.kill()
    kernels = [p for p in serve.orphans if "ipykernel" in p.cmdline]
    sleepers = [p for p in serve.orphans if SLEEPER in p.cmdline]
    assert kernels and sleepers, serve.orphans
    serve.start()

    run = sdk.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert run.status == "failed" and "restarted" in run.last_error.message
    (step,) = sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert step.type == "tool_calls" and step.status == "failed"
    assert sdk.beta.threads.messages.list(thread.id).data[-1].content[0].text.value == prompt
    assert_consistent(serve)  # the kernel and its child are gone
    sdk.beta.threads.messages.create(thread.id, role="user", content="Still there?")


def _document(paragraphs: int) -> bytes:
    """A text long enough that embedding it takes seconds, not milliseconds."""
    words = ["lighthouse", "keeper", "harbour", "storm", "lantern", "ship", "rocks", "tide"]
    lines = []
    for i in range(paragraphs):
        picked = " ".join(words[(i * 7 + k) % len(words)] for k in range(60))
        lines.append(f"Paragraph {i}: the {picked} number {i * 31 % 997}.")
    return "\n\n".join(lines).encode()


def test_kill_during_vector_store_ingestion(serve: Serve, sdk: openai.OpenAI) -> None:
    # About 15 chunks: seconds of embedding on an idle machine, more on a busy one.
    document = sdk.files.create(file=("keeper.txt", _document(18)), purpose="assistants")
    small_chunks = {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}
    store = sdk.vector_stores.create(
        name="drill",
        file_ids=[document.id],
        chunking_strategy={"type": "static", "static": small_chunks},
    )
    time.sleep(0.3)
    serve.kill()
    # Killed mid-ingestion: the file is still in_progress and has no chunks yet.
    (status,) = serve.rows("SELECT status FROM vector_store_files WHERE id = ?", document.id)[0]
    assert status == "in_progress", "ingestion ended before the kill: the drill tested nothing"
    serve.start()

    sdk = serve.client()
    deadline = time.monotonic() + 120
    while True:
        entry = sdk.vector_stores.files.retrieve(document.id, vector_store_id=store.id)
        if entry.status != "in_progress":
            break
        assert time.monotonic() < deadline, "ingestion was never resumed"
        time.sleep(0.5)
    assert entry.status == "completed", entry.last_error
    counts = sdk.vector_stores.retrieve(store.id).file_counts
    assert (counts.completed, counts.in_progress, counts.failed) == (1, 0, 0)
    (chunks,) = serve.rows(
        "SELECT count(*) FROM vector_store_chunks WHERE file_id = ?", document.id
    )[0]
    assert chunks > 0
    hits = sdk.vector_stores.search(store.id, query="lantern storm").data
    assert hits and hits[0].file_id == document.id
    assert_consistent(serve)


def test_kill_during_a_multipart_upload(serve: Serve, sdk: openai.OpenAI) -> None:
    before = sorted(p.name for p in serve.files_dir.iterdir())
    payload = os.urandom(4 * 1024 * 1024)
    boundary = "drillboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    sent_half = threading.Event()
    with socket.create_connection(("127.0.0.1", serve.port)) as slow:
        slow.sendall(
            (
                "POST /v1/files HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer x\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {len(head) + len(payload) + len(tail)}\r\n\r\n"
            ).encode()
            + head
        )
        for start in range(0, len(payload) // 2, 64 * 1024):  # a slow client: half the file
            slow.sendall(payload[start : start + 64 * 1024])
            time.sleep(0.01)
        sent_half.set()
        time.sleep(0.5)  # the server has read what was sent
        serve.kill()
    # Left by a kill at the worst moments of a save (the bytes written, the row
    # not yet): a partial file of the dead process, a complete file without a row.
    (serve.files_dir / f".file-drillpartial.{serve.killed_pid}.part").write_bytes(b"half")
    orphan = serve.files_dir / "file-drillorphan"
    orphan.write_bytes(b"no row")
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))
    serve.start()

    assert sent_half.is_set()
    assert sorted(p.name for p in serve.files_dir.iterdir()) == before
    assert all(f.filename != "big.bin" for f in serve.client().files.list().data)
    assert_consistent(serve)


def test_kill_during_submit_tool_outputs(serve: Serve, sdk: openai.OpenAI) -> None:
    forecaster = sdk.beta.assistants.create(
        model=MODEL_ID,
        instructions="Use get_weather, then write a long, detailed report of many paragraphs.",
        tools=[WEATHER_TOOL],
        temperature=0,
    )
    thread = sdk.beta.threads.create(
        messages=[{"role": "user", "content": "Weather in Paris? Then a 30-paragraph report."}]
    )
    run = sdk.beta.threads.runs.create(
        thread_id=thread.id,
        assistant_id=forecaster.id,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    run = wait_for_status(sdk, run, {"requires_action", "failed", "completed"})
    assert run.status == "requires_action", run.last_error
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    output = "Sunny, 31 C, light wind from the south-west, no rain expected this week."
    body = {"tool_outputs": [{"tool_call_id": call.id, "output": output}], "stream": True}
    url = f"{serve.url}/threads/{thread.id}/runs/{run.id}/submit_tool_outputs"
    with httpx.stream("POST", url, json=body, timeout=120) as response:
        assert response.status_code == 200
        stream_until(response, "thread.message.delta", count=3)
        serve.restart()

    sdk = serve.client()
    run = sdk.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert run.status == "failed" and "restarted" in run.last_error.message
    steps = sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    tool_step = next(s for s in steps if s.type == "tool_calls")
    assert tool_step.status == "completed"
    assert tool_step.step_details.tool_calls[0].function.output == output
    messages = sdk.beta.threads.messages.list(thread.id, order="asc").data
    assert messages[0].content[0].text.value.startswith("Weather in Paris?")
    assert_consistent(serve)


def test_database_locked_by_another_process(serve: Serve, sdk: openai.OpenAI) -> None:
    """Another process holds SQLite's write lock: writes wait (busy timeout), none is lost."""
    thread = sdk.beta.threads.create()
    released = threading.Event()
    answered: list[tuple[int, bool]] = []

    def write() -> None:
        response = httpx.post(
            f"{serve.url}/threads/{thread.id}/messages",
            json={"role": "user", "content": "written while the database was locked"},
            timeout=60,
        )
        answered.append((response.status_code, released.is_set()))

    locker = sqlite3.connect(serve.db, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(3)
        assert not answered, "the write went through a held lock"
        # Readers are not blocked (WAL): the API still answers reads.
        assert sdk.beta.threads.retrieve(thread.id).id == thread.id
        released.set()
        locker.execute("COMMIT")
    finally:
        locker.close()
    writer.join(timeout=60)
    assert answered == [(200, True)]
    texts = [m.content[0].text.value for m in sdk.beta.threads.messages.list(thread.id).data]
    assert texts == ["written while the database was locked"]
    assert_consistent(serve)


def test_disk_full_during_an_upload(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    home = tmp_path / "full"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(home)], check=True)
    try:
        (home / "models").symlink_to(Settings.from_env().model_dir.resolve())
        disk = Serve(home)
        disk.start()
        try:
            sdk = disk.client()
            thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "kept"}])
            first = sdk.files.create(file=("a.bin", os.urandom(900_000)), purpose="assistants")
            with pytest.raises(openai.APIStatusError) as failure:
                sdk.files.create(file=("b.bin", os.urandom(1_500_000)), purpose="assistants")
            error = failure.value
            assert error.status_code == 507
            assert error.body["type"] == "server_error"
            assert "no space" in error.body["message"]
            # Nothing half-written; what was there is intact and the server goes on.
            assert [f.id for f in sdk.files.list().data] == [first.id]
            assert len(sdk.files.content(first.id).content) == 900_000
            small = sdk.files.create(file=("c.txt", b"fits"), purpose="assistants")
            assert sdk.files.content(small.id).content == b"fits"
            assert sdk.beta.threads.messages.list(thread.id).data[0].content[0].text.value == "kept"
            assert_consistent(disk)
        finally:
            disk.stop()
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False)


def test_a_lock_held_past_the_busy_timeout_is_a_clear_503(tmp_path: Path) -> None:
    """Past the busy timeout (30 s in a server; 0.2 s here) a write gets a 503 that
    says what happened, not a 500, and nothing is half-written."""
    store = Store(f"sqlite:///{tmp_path / 'nbext.sqlite3'}", busy_timeout_s=0.2)
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/threads")
    def create_thread() -> dict[str, str]:
        thread = Thread(id=new_id("thread"), created_at=0, object="thread", metadata={})
        store.insert(THREADS, "owner", thread)
        return {"id": thread.id}

    client = TestClient(app, raise_server_exceptions=False)
    locker = sqlite3.connect(tmp_path / "nbext.sqlite3", isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        refused = client.post("/threads")
        locker.execute("COMMIT")
    finally:
        locker.close()
    assert refused.status_code == 503
    error = refused.json()["error"]
    assert error["type"] == "server_error" and "locked by another process" in error["message"]
    assert store.count(THREADS) == 0
    assert client.post("/threads").status_code == 200
    assert store.count(THREADS) == 1
    store.close()
