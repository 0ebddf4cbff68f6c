"""Escape attempts from inside code_interpreter, against a real server's sandbox.

Run as a script (``python tests/sandbox_attacks.py HOME``) it builds a server
the way ``nbext serve`` does (``create_app`` over a data directory, two API
keys, uvicorn on a loopback port), stores a file of one key, gives another
thread a secret in its working directory and a running kernel, then executes
each attempt of :data:`ATTACKS` as code_interpreter code in a thread of its
own, straight through the sandbox API (no model: the model is not the point).
It prints one JSON object: attempt name -> verdict and reason.

A script, not a fixture, because the process that hosts the server must be
started with its secrets in its environment (``/proc/<pid>/environ`` shows the
environment a process was started with, not later ``os.environ`` changes)
and, for the unprivileged run, as another user. ``tests/test_sandbox_attacks.py``
runs it as root and as an unprivileged uid and checks every verdict against
the README's table.

Verdicts: ``blocked`` (the attempt failed: denied, invisible, unreachable),
``contained`` (it ran, inside a limit or a private copy, and the host and the
other threads were untouched), ``not protected`` (it got what it went for).
Every attempt is bounded so that even without any protection it cannot take
a shared 2-core machine down: at most 300 processes or threads, 1 GiB of disk.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai

from nbext.backends.embedded import EmbeddedBackend
from nbext.server.app import create_app
from nbext.server.runner import BackgroundServer
from nbext.tools.code_interpreter import CodeInterpreter, ExecutionResult, Limits

SECRET = "sk-sandbox-attack-secret"
"""In the server's environment (as OPENAI_API_KEY and NBEXT_BACKEND_KEY), in the
other key's upload, in the other thread's working directory."""
KEYS = ("key-attacker", "key-victim")
LIMITS = Limits(timeout=20, max_disk_bytes=64 * 1024**2, max_output_bytes=32 * 1024)
"""Defaults but a smaller disk budget (a quicker test). The interrupt-ignoring
loop and the output flood get a 3 s wall clock."""
BOMB_CAP = 300
"""Processes or threads a bomb starts at most, even where nothing limits it."""
SCRATCH_WRITE = 200 * 1024**2
"""What the /tmp filler writes at most: over the sandbox's 64 MiB private /tmp."""

BLOCKED, CONTAINED, NOT_PROTECTED = "blocked", "contained", "not protected"


@dataclass
class Target:
    """What the attacker aims at; the host paths are given to it, as if guessed."""

    server_pid: int
    server_port: int
    loopback_port: int
    home: str
    database: str
    upload_path: str
    victim_workdir: str
    victim_pid: int
    victim_connection_file: str
    marker: str
    """A unique name the write attempts use, looked for on the host afterwards."""


@dataclass
class Outcome:
    result: ExecutionResult
    report: dict[str, Any]
    """What the code printed as ``RESULT {json}`` (empty if it never got there)."""
    host: dict[str, Any]
    """What the harness saw on the host around the execution."""


Judge = Callable[[Outcome], tuple[str, str]]


@dataclass
class Attack:
    name: str
    code: str
    judge: Judge
    timeout: float | None = None
    before: Callable[[Target, CodeInterpreter, str], dict[str, Any]] | None = None
    after: Callable[[Target, CodeInterpreter, str], dict[str, Any]] | None = None


# -- the code each attempt runs (T is the Target as a dict) ---------------------

REPORT = "import json\ndef report(**facts):\n    print('RESULT ' + json.dumps(facts))\n"

TRY_READ = (
    REPORT
    + """
def try_read(path):
    try:
        with open(path, 'rb') as f:
            return 'read: ' + repr(f.read(200))
    except OSError as exc:
        return f'{type(exc).__name__}: {exc.strerror}'
"""
)

READ_OTHER_THREAD = (
    TRY_READ
    + """
import glob, os
seen = {'workdir': try_read(T['victim_workdir'] + '/secret.txt')}
# Through the other kernel's mount namespace, if its /proc entry is reachable.
seen['proc_root'] = try_read(f"/proc/{T['victim_pid']}/root/mnt/data/secret.txt")
try:
    seen['listing'] = os.listdir(os.path.dirname(T['victim_workdir']))
except OSError as exc:
    seen['listing'] = f'{type(exc).__name__}: {exc.strerror}'
report(leaked=any(T['marker_secret'] in v for v in seen.values() if isinstance(v, str)), **seen)
"""
)

READ_OTHER_KEY_FILE = (
    TRY_READ
    + """
import os
seen = {'upload': try_read(T['upload_path'])}
try:
    seen['listing'] = os.listdir(os.path.dirname(T['upload_path']))
except OSError as exc:
    seen['listing'] = f'{type(exc).__name__}: {exc.strerror}'
report(leaked=T['marker_secret'] in seen['upload'] or isinstance(seen['listing'], list), **seen)
"""
)

READ_DATABASE = (
    TRY_READ
    + """
seen = try_read(T['database'])
report(leaked=seen.startswith('read'), database=seen)
"""
)

READ_SERVER_ENVIRON = (
    TRY_READ
    + """
seen = try_read(f"/proc/{T['server_pid']}/environ")
report(leaked=T['marker_secret'] in seen, environ=seen[:120])
"""
)

READ_SERVER_CMDLINE = (
    TRY_READ
    + """
import os
seen = try_read(f"/proc/{T['server_pid']}/cmdline")
others = [p for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]
report(leaked=seen.startswith('read'), cmdline=seen[:120], other_pids_visible=len(others))
"""
)

SIGNAL_SERVER = (
    REPORT
    + """
import os
try:
    os.kill(T['server_pid'], 0)  # signal 0: the permission check, no signal sent
    report(leaked=True, kill='allowed: SIGKILL would stop the server')
except OSError as exc:
    report(leaked=False, kill=f'{type(exc).__name__}: {exc.strerror}')
"""
)

READ_CONNECTION_FILE = (
    TRY_READ
    + """
seen = try_read(T['victim_connection_file'])
report(leaked='"key"' in seen, connection_file=seen[:80])
"""
)

CONNECT_SERVER = (
    REPORT
    + """
import socket
try:
    with socket.create_connection(('127.0.0.1', T['server_port']), timeout=3) as s:
        s.sendall(b'GET /health HTTP/1.0\\r\\n\\r\\n')
        report(leaked=True, answer=s.recv(200).decode(errors='replace'))
except OSError as exc:
    report(leaked=False, answer=f'{type(exc).__name__}: {exc}')
"""
)

CONNECT_LOOPBACK = (
    REPORT
    + """
import socket
# A service of the host on 127.0.0.1 (an Ollama, a database...), and the
# sandbox's own loopback, which it may use freely.
try:
    socket.create_connection(('127.0.0.1', T['loopback_port']), timeout=3).close()
    host = 'connected'
except OSError as exc:
    host = f'{type(exc).__name__}: {exc}'
own = socket.create_server(('127.0.0.1', 0))
socket.create_connection(own.getsockname(), timeout=3).close()
report(leaked=host == 'connected', host_service=host, own_loopback='works')
"""
)

RESOLVE_DNS = (
    REPORT
    + """
import socket
try:
    answer = socket.getaddrinfo('pypi.org', 443)[0][4][0]
    report(leaked=True, dns=answer)
except OSError as exc:
    report(leaked=False, dns=f'{type(exc).__name__}: {exc}')
"""
)

WRITE_OUTSIDE = (
    REPORT
    + """
import os
results = {}
for directory in ('/tmp', '/var/tmp', '/dev/shm', T['home'], '/etc', '/usr/local/bin', '/'):
    try:
        with open(os.path.join(directory, T['marker']), 'w') as f:
            f.write('escaped')
        results[directory] = 'written'
    except OSError as exc:
        results[directory] = f'{type(exc).__name__}: {exc.strerror}'
report(**results)
"""
)

FILL_DISK = """
import os
block = os.urandom(1024 * 1024)
for i in range(64):  # 64 files of 16 MiB: 1 GiB at most
    with open(f'fill{i}.bin', 'wb') as f:
        for _ in range(16):
            f.write(block)
print('RESULT {"leaked": true, "written": "1 GiB"}')
"""

FILL_SCRATCH = (
    REPORT
    + f"""
import os
block = os.urandom(1024 * 1024)
written = 0
try:
    with open('/tmp/' + T['marker'] + '.fill', 'wb') as f:
        while written < {SCRATCH_WRITE}:
            f.write(block)
            f.flush()
            written += len(block)
    outcome = 'all written'
except OSError as exc:
    outcome = f'{{type(exc).__name__}}: {{exc.strerror}}'
report(leaked=written >= {SCRATCH_WRITE}, written_mib=written // 2**20, outcome=outcome)
"""
)

LIMIT_CHECK = """
import resource
soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
if soft == resource.RLIM_INFINITY or soft > 256:
    raise SystemExit(f'no usable process limit ({soft}): the bomb is not run')
"""

FORK_BOMB = (
    LIMIT_CHECK
    + f"""
import os, time
for _ in range({BOMB_CAP}):
    if os.fork() == 0:
        time.sleep(30)
        os._exit(0)
print('RESULT {{"leaked": true, "started": {BOMB_CAP}}}')
"""
)

THREAD_BOMB = (
    LIMIT_CHECK
    + f"""
import threading, time
started = 0
for _ in range({BOMB_CAP}):
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
    started += 1
print('RESULT {{"leaked": true, "started": {BOMB_CAP}}}')
"""
)

OUTPUT_FLOOD = "while True:\n    print('x' * 1000)\n"

IGNORE_INTERRUPT = (
    "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"
)


# -- judges ----------------------------------------------------------------------


def _leak_judge(what: str) -> Judge:
    """Blocked unless the code got what it went for; the reason is what it saw."""

    def judge(outcome: Outcome) -> tuple[str, str]:
        report = outcome.report
        if not report:
            return NOT_PROTECTED, f"the attempt did not report: {outcome.result.error}"
        facts = "; ".join(f"{k}: {v}" for k, v in report.items() if k != "leaked")
        if report["leaked"]:
            return NOT_PROTECTED, f"{what}: {facts}"
        return BLOCKED, facts

    return judge


def _judge_write_outside(outcome: Outcome) -> tuple[str, str]:
    report, on_host = outcome.report, outcome.host["found_on_host"]
    if on_host:
        return NOT_PROTECTED, f"written on the host: {', '.join(on_host)}"
    written = [d for d, r in report.items() if r == "written"]
    facts = "; ".join(f"{k}: {v}" for k, v in report.items())
    if written:
        return CONTAINED, f"written only to private tmpfs copies ({', '.join(written)}); {facts}"
    return BLOCKED, facts


def _judge_fill_disk(outcome: Outcome) -> tuple[str, str]:
    result, left = outcome.result, outcome.host["fill_files_left"]
    if outcome.report:
        return NOT_PROTECTED, f"wrote 1 GiB into its working directory ({left} files left)"
    if result.status == "killed" and "disk" in (result.error or "") and left == 0:
        return CONTAINED, f"{result.error} (peak {outcome.host['peak_mib']} MiB)"
    return NOT_PROTECTED, f"{result.status}: {result.error}; {left} files left"


def _judge_fill_scratch(outcome: Outcome) -> tuple[str, str]:
    report, on_host = outcome.report, outcome.host["found_on_host"]
    if on_host:
        return NOT_PROTECTED, f"wrote {report.get('written_mib')} MiB into the host's /tmp"
    if not report:
        return NOT_PROTECTED, f"the attempt did not report: {outcome.result.error}"
    if report["leaked"]:
        return NOT_PROTECTED, f"wrote {report['written_mib']} MiB, unlimited"
    return CONTAINED, (
        f"private /tmp full after {report['written_mib']} MiB ({report['outcome']}); "
        "nothing on the host"
    )


def _judge_bomb(kind: str) -> Judge:
    def judge(outcome: Outcome) -> tuple[str, str]:
        result = outcome.result
        if outcome.report:
            return NOT_PROTECTED, f"started all {BOMB_CAP} {kind}"
        if result.error and "no usable process limit" in result.error:
            return NOT_PROTECTED, "no process limit applies: the bomb was not run"
        left = outcome.host["tasks_left"]
        if result.status == "killed" and left == 0:
            return CONTAINED, f"{result.error}; 0 left running"
        if result.status == "error" and "can't start new thread" in (result.error or ""):
            return CONTAINED, f"{result.error} (limit {outcome.host['nproc']})"
        if result.status == "error" and "BlockingIOError" in (result.error or ""):
            return CONTAINED, f"{result.error} (limit {outcome.host['nproc']})"
        return NOT_PROTECTED, f"{result.status}: {result.error}; {left} tasks left"

    return judge


def _judge_flood(outcome: Outcome) -> tuple[str, str]:
    result = outcome.result
    kept = len(result.logs.encode())
    if result.status in ("timeout", "killed") and kept <= LIMITS.max_output_bytes + 200:
        note = result.logs.rsplit("\n", 1)[-1]
        return CONTAINED, f"{kept} bytes of logs kept {note}; {result.error}"
    return NOT_PROTECTED, f"{result.status}: {kept} bytes of logs"


def _judge_ignore_interrupt(outcome: Outcome) -> tuple[str, str]:
    result = outcome.result
    alive = outcome.host["alive_after"]
    if result.status == "timeout" and result.state_lost and alive == "4":
        return CONTAINED, f"{result.error}; the thread's next execution works"
    return NOT_PROTECTED, f"{result.status}: {result.error}; next execution: {alive!r}"


# -- host-side checks around some attempts -----------------------------------------


def _host_paths(target: Target) -> list[Path]:
    places = ("/tmp", "/var/tmp", "/dev/shm", target.home, "/etc", "/usr/local/bin", "/")
    return [
        Path(place) / name for place in places for name in (target.marker, f"{target.marker}.fill")
    ]


def _found_on_host(target: Target, ci: CodeInterpreter, thread: str) -> dict[str, Any]:
    found = [str(path) for path in _host_paths(target) if path.exists()]
    for path in _host_paths(target):
        path.unlink(missing_ok=True)  # what escaped is cleaned up at once
    return {"found_on_host": found}


def _fill_files_left(target: Target, ci: CodeInterpreter, thread: str) -> dict[str, Any]:
    workdir = ci.workdir(thread)
    left = list(workdir.glob("fill*.bin"))
    for path in left:
        path.unlink()
    return {"fill_files_left": len(left)}


def _nproc_of_kernel(target: Target, ci: CodeInterpreter, thread: str) -> dict[str, Any]:
    """The process limit the kernel runs under, read from the host before the bomb."""
    ci.execute(thread, "pass")  # the kernel is up
    kernel = ci._sandboxes[thread].kernel
    assert kernel is not None
    pid = kernel.kernel_pid()
    limits = Path(f"/proc/{pid}/limits").read_text()
    line = next(row for row in limits.splitlines() if row.startswith("Max processes"))
    soft = line.split()[2]
    if soft == "unlimited" or int(soft) > 256:
        raise RuntimeError(f"no process limit on the kernel ({line}): not running a bomb")
    return {"nproc": int(soft), "uid": ci._sandboxes[thread].uid}


def _tasks_left(target: Target, ci: CodeInterpreter, thread: str) -> dict[str, Any]:
    uid = ci._sandboxes[thread].uid
    if uid is None:  # kernels share the server's uid: count the kernel's own tasks
        kernel = ci._sandboxes[thread].kernel
        pid = kernel.kernel_pid() if kernel is not None else None
        left = 0 if pid is None else _children_and_threads(pid)
    else:
        from nbext.tools.code_interpreter import sandbox

        left = sandbox.tasks_of(uid)
    ci.stop(thread)  # whatever it left, stopped before the next attempt
    return {"tasks_left": left}


def _children_and_threads(pid: int) -> int:
    count = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            status = Path(f"/proc/{name}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(name) == pid or fields.get("PPid", "").strip() == str(pid):
            count += int(fields["Threads"])
    return count


def _alive_after(target: Target, ci: CodeInterpreter, thread: str) -> dict[str, Any]:
    return {"alive_after": ci.execute(thread, "print(2 + 2)").logs.strip()}


ATTACKS = [
    Attack(
        "read another thread's files",
        READ_OTHER_THREAD,
        _leak_judge("read another thread's working directory"),
    ),
    Attack(
        "read another key's uploaded file",
        READ_OTHER_KEY_FILE,
        _leak_judge("read the files directory"),
    ),
    Attack("read the server's database", READ_DATABASE, _leak_judge("read the database")),
    Attack(
        "read /proc/<server pid>/environ",
        READ_SERVER_ENVIRON,
        _leak_judge("read the server's environment"),
    ),
    Attack(
        "read /proc/<server pid>/cmdline, list processes",
        READ_SERVER_CMDLINE,
        _leak_judge("read the server's command line"),
    ),
    Attack("signal the server process", SIGNAL_SERVER, _leak_judge("may signal the server")),
    Attack(
        "read another kernel's connection file",
        READ_CONNECTION_FILE,
        _leak_judge("read its key: could run code in that kernel"),
    ),
    Attack("connect to the server's port", CONNECT_SERVER, _leak_judge("reached the server")),
    Attack(
        "connect to a loopback service of the host",
        CONNECT_LOOPBACK,
        _leak_judge("reached the host's loopback"),
    ),
    Attack("resolve a name (DNS)", RESOLVE_DNS, _leak_judge("resolved a name")),
    Attack(
        "write outside the working directory",
        WRITE_OUTSIDE,
        _judge_write_outside,
        after=_found_on_host,
    ),
    Attack(
        "fill the disk from the working directory",
        FILL_DISK,
        _judge_fill_disk,
        timeout=60,
        after=_fill_files_left,
    ),
    Attack("fill the disk through /tmp", FILL_SCRATCH, _judge_fill_scratch, after=_found_on_host),
    Attack(
        "fork bomb",
        FORK_BOMB,
        _judge_bomb("processes"),
        before=_nproc_of_kernel,
        after=_tasks_left,
    ),
    Attack(
        "thread bomb",
        THREAD_BOMB,
        _judge_bomb("threads"),
        before=_nproc_of_kernel,
        after=_tasks_left,
    ),
    Attack("never-ending output", OUTPUT_FLOOD, _judge_flood, timeout=3),
    Attack(
        "ignore interrupts (SIGINT) and loop",
        IGNORE_INTERRUPT,
        _judge_ignore_interrupt,
        timeout=3,
        after=_alive_after,
    ),
]


# -- the run -------------------------------------------------------------------------


def _peak_watcher(workdir: Path, stop: threading.Event, peak: list[int]) -> None:
    """The largest size of the working directory while the disk filler runs."""
    while not stop.wait(0.05):
        total = sum(p.stat().st_size for p in workdir.glob("fill*.bin") if p.exists())
        peak[0] = max(peak[0], total)


def _parse_report(logs: str) -> dict[str, Any]:
    for line in logs.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line.removeprefix("RESULT "))
    return {}


def run_attacks(home: Path, only: list[str] | None = None) -> dict[str, dict[str, str]]:
    """Every attempt against a server with its data in ``home``: name -> verdict, reason."""
    models = home / "models"
    models.mkdir(parents=True, exist_ok=True)  # never loaded: no model call is made
    app = create_app(
        EmbeddedBackend(models, progress=False), api_keys=KEYS, home=home, code_limits=LIMITS
    )
    loopback = socket.create_server(("127.0.0.1", 0))
    server = BackgroundServer(app).start()
    verdicts: dict[str, dict[str, str]] = {}
    try:
        victim = openai.OpenAI(base_url=server.base_url, api_key=KEYS[1])
        upload = victim.files.create(file=("notes.txt", SECRET.encode()), purpose="assistants")
        ci = app.state.tools.code_interpreter.interpreter()
        ci.put_file("thread_victim", "secret.txt", SECRET.encode())
        assert ci.execute("thread_victim", "x = 1").status == "ok"
        kernel = ci._sandboxes["thread_victim"].kernel
        assert kernel is not None and kernel.runtime is not None
        target = Target(
            server_pid=os.getpid(),
            server_port=server.port,
            loopback_port=loopback.getsockname()[1],
            home=str(home),
            database=str(home / "nbext.sqlite3"),
            upload_path=str(home / "files" / upload.id),
            victim_workdir=str(ci.workdir("thread_victim")),
            victim_pid=kernel.kernel_pid() or 0,
            victim_connection_file=str(kernel.runtime / "kernel.json"),
            marker=f"nbext-escape-{os.getpid()}",
        )
        given = {**target.__dict__, "marker_secret": SECRET}
        isolation = ci.isolation
        verdicts["_isolation"] = {
            "verdict": "",
            "reason": f"userns={isolation.userns} netns={isolation.netns} mount={isolation.mount} "
            f"proc={isolation.proc} pidns={isolation.pidns} "
            f"setuid={isolation.setuid} uid={os.getuid()}",
        }
        for number, attack in enumerate(ATTACKS):
            if only and attack.name not in only:
                continue
            thread = f"thread_attack_{number}"
            verdicts[attack.name] = _run_one(attack, ci, thread, target, given)
            ci.stop(thread)
    finally:
        server.stop()
        loopback.close()
    return verdicts


def _run_one(
    attack: Attack, ci: CodeInterpreter, thread: str, target: Target, given: dict[str, Any]
) -> dict[str, str]:
    host: dict[str, Any] = {}
    try:
        if attack.before is not None:
            host |= attack.before(target, ci, thread)
    except RuntimeError as exc:  # a precondition of a dangerous attempt is missing
        return {"verdict": NOT_PROTECTED, "reason": str(exc)}
    peak = [0]
    stop = threading.Event()
    watcher = threading.Thread(target=_peak_watcher, args=(ci.workdir(thread), stop, peak))
    watcher.start()
    try:
        code = f"T = {given!r}\n{attack.code}"
        result = ci.execute(thread, code, timeout=attack.timeout)
    finally:
        stop.set()
        watcher.join()
    host["peak_mib"] = peak[0] // 2**20
    if attack.after is not None:
        host |= attack.after(target, ci, thread)
    verdict, reason = attack.judge(Outcome(result, _parse_report(result.logs), host))
    return {"verdict": verdict, "reason": reason}


if __name__ == "__main__":
    started = time.monotonic()
    names = sys.argv[2:] or None
    found = run_attacks(Path(sys.argv[1]), names)
    found["_seconds"] = {"verdict": "", "reason": f"{time.monotonic() - started:.1f}"}
    print(json.dumps(found))
