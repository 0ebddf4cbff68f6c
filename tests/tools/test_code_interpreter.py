"""code_interpreter against real sandboxed kernels: outputs, files, state, limits.

No mocks: every test runs code in an IPython kernel started by the module.
The abuse tests (fork bomb, memory hog) are bounded so that even a broken
limit cannot take the machine down.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbext.tools.code_interpreter import CodeInterpreter, Limits, sandbox
from nbext.tools.code_interpreter.executor import missing_package_note

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def ci(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CodeInterpreter]:
    interpreter = CodeInterpreter(tmp_path_factory.mktemp("sandboxes"), idle_timeout=None)
    yield interpreter
    interpreter.shutdown()


def test_fibonacci_in_logs(ci: CodeInterpreter) -> None:
    code = "a, b = 0, 1\nfor _ in range(20):\n    a, b = b, a + b\nprint(a)"
    result = ci.execute("fib", code)
    assert result.status == "ok", result
    assert "6765" in result.logs


@pytest.mark.parametrize(
    ("code", "module"),
    [
        ("import pandas as pd\nprint(pd.Series([1, 2]).mean())", "pandas"),
        ("from sympy import factorint", "sympy"),
        ("import scipy.special", "scipy"),
    ],
)
def test_a_missing_package_gets_what_there_is_instead(
    ci: CodeInterpreter, code: str, module: str
) -> None:
    """The kernel's real traceback is read: the model is told the module is not there,
    that nothing can be installed, and what it may use."""
    result = ci.execute("missing", code)
    assert result.status == "error"
    note = missing_package_note(code, result.logs)
    assert note is not None
    assert f"module {module} is not installed" in note and "numpy" in note


@pytest.mark.parametrize(
    ("code", "logs", "told"),
    [
        ("pip install pandas", "Permission denied", "cannot be installed"),
        ("!pip install sympy", "", "cannot be installed"),
        ("%pip install scipy\nimport scipy", "", "cannot be installed"),
        ("python -m pip install numpy", "", "cannot be installed"),
        ("print(1)", "1", None),
        ("import numpy as np", "", None),
        ("x = 'pip install pandas'", "", None),  # only a string that mentions it
        ("1 / 0", "ZeroDivisionError: division by zero", None),
        ("import foo", "ImportError: cannot import name 'foo'", None),
    ],
)
def test_missing_package_note_only_for_missing_packages_and_installs(
    code: str, logs: str, told: str | None
) -> None:
    note = missing_package_note(code, logs)
    assert (note is None) if told is None else (note is not None and told in note)


def test_expression_value_and_error_traceback(ci: CodeInterpreter) -> None:
    assert ci.execute("expr", "21 * 2").logs.strip() == "42"
    result = ci.execute("expr", "1 / 0")
    assert result.status == "error"
    assert result.error == "ZeroDivisionError: division by zero"
    assert "ZeroDivisionError" in result.logs and "\x1b[" not in result.logs


def test_matplotlib_plot_comes_back_as_png(ci: CodeInterpreter) -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.title('squares')"
    result = ci.execute("plot", code)
    assert result.status == "ok", result
    assert len(result.images) == 1
    assert result.images[0].startswith(PNG_MAGIC)


def test_file_written_by_code_is_returned(ci: CodeInterpreter) -> None:
    code = "with open('out.csv', 'w') as f:\n    f.write('x,y\\n1,2\\n')"
    result = ci.execute("write", code)
    assert result.status == "ok", result
    assert [(f.path, f.data) for f in result.files] == [("out.csv", b"x,y\n1,2\n")]
    # Unchanged files are not returned again.
    assert ci.execute("write", "pass").files == []


def test_workdir_is_mnt_data(ci: CodeInterpreter) -> None:
    if not ci.isolation.mount:
        pytest.skip(f"this platform refuses mount namespaces: {ci.isolation.notes}")
    code = "import os\nprint(os.getcwd())\n_ = open('/mnt/data/plot_data.txt', 'w').write('1 2 3')"
    result = ci.execute("mnt", code)
    assert result.logs.strip() == "/mnt/data", result
    assert [(f.path, f.data) for f in result.files] == [("plot_data.txt", b"1 2 3")]
    assert (ci.workdir("mnt") / "plot_data.txt").read_bytes() == b"1 2 3"


def test_input_file_is_readable(ci: CodeInterpreter) -> None:
    ci.put_file("input", "data.csv", b"n\n1\n2\n3\n")
    result = ci.execute("input", "print(sum(int(x) for x in open('data.csv').read().split()[1:]))")
    assert result.status == "ok", result
    assert result.logs.strip() == "6"
    assert result.files == []
    with pytest.raises(ValueError):
        ci.put_file("input", "../escape.txt", b"")


def test_state_persists_within_a_thread_and_not_across(ci: CodeInterpreter) -> None:
    assert ci.execute("state_a", "x = 41").status == "ok"
    assert ci.execute("state_a", "print(x + 1)").logs.strip() == "42"
    other = ci.execute("state_b", "print(x)")
    assert other.status == "error" and other.error is not None
    assert other.error.startswith("NameError")


def test_infinite_loop_times_out_and_thread_recovers(ci: CodeInterpreter) -> None:
    ci.execute("loop", "kept = 'yes'")
    result = ci.execute("loop", "while True:\n    pass", timeout=1.5)
    assert result.status == "timeout"
    assert result.error is not None
    assert "execution exceeded the 1.5 s time limit" in result.error
    assert not result.state_lost  # the interrupt worked
    assert ci.execute("loop", "print(kept)").logs.strip() == "yes"


def test_loop_ignoring_interrupt_is_restarted(ci: CodeInterpreter) -> None:
    ci.execute("stubborn", "kept = 'yes'")
    code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    result = ci.execute("stubborn", code, timeout=1.0)
    assert result.status == "timeout" and result.state_lost
    assert result.error is not None and "restarted" in result.error
    after = ci.execute("stubborn", "print(2 + 2)")
    assert after.status == "ok" and after.logs.strip() == "4"
    assert ci.execute("stubborn", "kept").error == "NameError: name 'kept' is not defined"


def test_memory_hog_is_stopped_and_thread_recovers(ci: CodeInterpreter) -> None:
    result = ci.execute("memory", "hog = bytearray(4 * 1024**3)")
    assert result.status in ("error", "killed")
    assert result.error is not None and "MemoryError" in result.error
    assert "1 GiB" in result.error
    assert ci.execute("memory", "print('alive')").logs.strip() == "alive"


def test_fork_bomb_is_stopped_and_thread_recovers(ci: CodeInterpreter) -> None:
    # Bounded: even without a limit this makes at most 300 sleeping processes.
    code = (
        "import os, time\n"
        "for _ in range(300):\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
    )
    result = ci.execute("forks", code, timeout=20)
    assert result.status == "killed", result
    assert result.error is not None and "too many processes" in result.error
    assert result.state_lost
    if ci.isolation.setuid:
        uid = ci._sandboxes["forks"].uid
        assert uid is not None and sandbox.tasks_of(uid) == 0  # every child is gone
    assert ci.execute("forks", "print('alive')").logs.strip() == "alive"


def test_environment_has_no_secrets(ci: CodeInterpreter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("NBEXT_API_KEY", "nbext-secret")
    code = "import os\nprint(sorted(k for k in os.environ if 'KEY' in k or 'NBEXT' in k))"
    result = ci.execute("env", code)
    assert result.logs.strip() == "[]"
    home = ci.execute("env", "import os\nprint(os.environ['HOME'] == os.getcwd())")
    assert home.logs.strip() == "True"


def test_root_only_files_are_unreadable(ci: CodeInterpreter, tmp_path: Path) -> None:
    if not ci.isolation.setuid:
        pytest.skip(f"kernels cannot run as their own uid here: {ci.isolation.notes}")
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    secret.chmod(0o600)
    result = ci.execute("secret", f"open({str(secret)!r}).read()")
    # Denied to the private uid; and under /tmp, not even there (a private /tmp).
    assert result.error is not None
    assert result.error.startswith(("PermissionError", "FileNotFoundError"))
    # A symlink planted by the code is not followed when files are collected.
    planted = ci.execute("secret", f"import os\nos.symlink({str(secret)!r}, 'leak.txt')")
    assert planted.status == "ok" and planted.files == []


def _listener() -> tuple[socket.socket, int]:
    server = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=lambda: server.accept()[0].close(), daemon=True).start()
    return server, server.getsockname()[1]


CONNECT = (
    "import socket\n"
    "try:\n"
    "    socket.create_connection(('127.0.0.1', {port}), timeout=3).close()\n"
    "    print('connected')\n"
    "except OSError as exc:\n"
    "    print('blocked', exc)\n"
)


def test_network_is_unreachable(ci: CodeInterpreter, tmp_path: Path) -> None:
    if not ci.isolation.netns:
        pytest.skip(f"this platform refuses network namespaces: {ci.isolation.notes}")
    server, port = _listener()
    with server:
        result = ci.execute("net", CONNECT.format(port=port))
        assert result.logs.startswith("blocked"), result.logs
        # Control: the same code without the namespace reaches the server.
        with CodeInterpreter(tmp_path, isolate_network=False, idle_timeout=None) as open_ci:
            assert open_ci.execute("net", CONNECT.format(port=port)).logs.strip() == "connected"


def test_output_is_truncated(tmp_path: Path) -> None:
    limits = Limits(max_output_bytes=1024, cpu_seconds=1)
    with CodeInterpreter(tmp_path, limits=limits, idle_timeout=None) as small:
        result = small.execute("t", "print('x' * 5000)")
        assert result.logs.startswith("x" * 1024)
        assert "[output truncated: 3977 more bytes not shown; the limit is 1 KB]" in result.logs
        # The same interpreter also checks the CPU limit (1 s per execution).
        burn = small.execute("t", "while True:\n    pass", timeout=15)
        assert burn.status == "killed" and burn.error is not None
        assert "CPU time" in burn.error
        assert small.execute("t", "print('alive')").logs.strip() == "alive"


def test_idle_kernels_are_stopped(tmp_path: Path) -> None:
    with CodeInterpreter(tmp_path, idle_timeout=0.5) as idle:
        idle.execute("t", "x = 1")
        assert idle.is_running("t")
        pid = idle._sandboxes["t"].kernel._pid()  # type: ignore[union-attr]
        deadline = time.monotonic() + 10
        assert pid is not None
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not os.path.exists(f"/proc/{pid}")
        assert not idle.is_running("t")
        assert idle.execute("t", "print('again')").logs.strip() == "again"


def test_a_directory_holding_the_interpreter_is_never_hidden(tmp_path: Path) -> None:
    # A data directory set to /, /usr or the venv's parent must not take the
    # kernel's Python away: only tmp_path is covered in the kernel's view.
    venv = Path(sys.executable).parent.parent
    wanted = ("/", "/usr", venv, venv.parent, tmp_path)
    with CodeInterpreter(tmp_path, hide=wanted, idle_timeout=None) as careful:
        assert careful.hide == (tmp_path.resolve(),)
        assert careful.execute("t", "print('alive')").logs.strip() == "alive"
