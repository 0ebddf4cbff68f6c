"""code_interpreter limits a host sets: ``NBEXT_CODE_*`` and ``nbext serve --code-*``.

Parsing is checked on :class:`~nbext.config.Settings` directly; the command
line and what the server then reports (``/v1/nbext/status``, which ``%nbext``
shows) on a real ``nbext serve`` process. No model is loaded: the server is
only asked for its status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from api_helpers import free_port, start_serve

from nbext import doctor
from nbext.config import CODE_LIMIT_ENV, CodeLimits, Settings, parse_size
from nbext.protocol import STATUS_PATH

MIB = 1024**2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("65536", 65536),
        ("64K", 64 * 1024),
        ("512M", 512 * MIB),
        ("512MiB", 512 * MIB),
        ("512mb", 512 * MIB),
        ("1.5G", 1536 * MIB),
        ("2T", 2 * 1024**4),
        (" 1G ", 1024**3),
    ],
)
def test_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_every_limit_from_the_environment() -> None:
    env = {
        "NBEXT_CODE_TIMEOUT_S": "30.5",
        "NBEXT_CODE_CPU_S": "45",
        "NBEXT_CODE_MEMORY": "512M",
        "NBEXT_CODE_PROCESSES": "16",
        "NBEXT_CODE_OUTPUT": "8K",
        "NBEXT_CODE_FILE_SIZE": "10M",
        "NBEXT_CODE_DISK": "1G",
    }
    assert sorted(env) == sorted(variable for variable, _, _ in CODE_LIMIT_ENV.values())
    limits = Settings.from_env(env).code_limits
    assert limits == CodeLimits(
        timeout=30.5,
        cpu_seconds=45,
        memory_bytes=512 * MIB,
        max_processes=16,
        max_output_bytes=8 * 1024,
        max_file_bytes=10 * MIB,
        max_disk_bytes=1024 * MIB,
    )
    assert limits.describe() == (
        "30.5 s wall, 45 CPU s, 512 MiB memory, 16 processes, 8 KiB output, "
        "10 MiB per file, 1 GiB disk per execution"
    )
    # A child process (the per-user local server) is handed the same limits.
    assert Settings.from_env(Settings.from_env(env).as_environ()).code_limits == limits


def test_unset_and_empty_mean_the_defaults() -> None:
    assert Settings.from_env({}).code_limits == CodeLimits()
    assert Settings.from_env({"NBEXT_CODE_MEMORY": ""}).code_limits == CodeLimits()


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("NBEXT_CODE_MEMORY", "lots", "not a size"),
        ("NBEXT_CODE_MEMORY", "-1G", "not a size"),
        ("NBEXT_CODE_MEMORY", "0", "positive size"),
        ("NBEXT_CODE_MEMORY", "100", "at least 1K"),
        ("NBEXT_CODE_DISK", "1Q", "not a size"),
        ("NBEXT_CODE_OUTPUT", "1e6", "not a size"),
        ("NBEXT_CODE_TIMEOUT_S", "soon", "positive seconds"),
        ("NBEXT_CODE_TIMEOUT_S", "0", "positive seconds"),
        ("NBEXT_CODE_TIMEOUT_S", "inf", "positive seconds"),
        ("NBEXT_CODE_TIMEOUT_S", "nan", "positive seconds"),
        ("NBEXT_CODE_CPU_S", "1.5", "whole seconds"),
        ("NBEXT_CODE_PROCESSES", "many", "positive count"),
        ("NBEXT_CODE_PROCESSES", "3", "at least 8"),
    ],
)
def test_a_bad_value_names_the_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        Settings.from_env({variable: value})
    message = str(caught.value)
    assert message.startswith(f"{variable} must be") and repr(value) in message
    assert says in message


def _serve(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NBEXT_CODE_")}
    return subprocess.run(
        [sys.executable, "-m", "nbext.cli", "serve", "--port", "1", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_refuses_a_bad_flag_or_variable_without_a_traceback() -> None:
    flag = _serve("--code-memory", "12x")
    assert flag.returncode == 2
    assert "nbext serve: --code-memory must be a positive size" in flag.stderr
    variable = _serve(NBEXT_CODE_PROCESSES="3")
    assert variable.returncode == 2
    assert "nbext serve: NBEXT_CODE_PROCESSES must be at least 8" in variable.stderr
    assert "Traceback" not in flag.stderr + variable.stderr


def test_serve_flags_win_over_variables_and_the_server_reports_them(tmp_path: Path) -> None:
    port = free_port()
    env = {"NBEXT_HOME": str(tmp_path), "NBEXT_CODE_MEMORY": "512M", "NBEXT_CODE_DISK": "1G"}
    process = start_serve(env, port, "--code-memory", "768M", "--code-timeout-s", "20")
    try:
        facts = httpx.get(f"http://127.0.0.1:{port}/v1{STATUS_PATH}", timeout=10).json()
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0].decode()
    limits = CodeLimits(**facts["code_limits"])
    assert limits == CodeLimits(timeout=20, memory_bytes=768 * MIB, max_disk_bytes=1024 * MIB)
    assert f"code_interpreter limits: {limits.describe()}" in output


def test_doctor_shows_the_limits_in_force(tmp_path: Path) -> None:
    settings = Settings.from_env({"NBEXT_HOME": str(tmp_path), "NBEXT_CODE_MEMORY": "2G"})
    row = doctor.check_code_interpreter(doctor.Context(settings=settings))
    assert "limits (NBEXT_CODE_*): 60 s wall, 120 CPU s, 2 GiB memory" in row.found
