"""``nbext doctor``: crashing children become rows, the CPU comparison, the report.

The probe tests hand the child runner programs that crash, fail or hang on
purpose: a llama.cpp build for the wrong CPU dies exactly like that, and the
doctor must live to say so. The end-to-end test runs the real command on this
machine, so it also proves this machine's set-up.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nbext import doctor
from nbext.config import Settings
from nbext.doctor import FAIL, OK, WARN, Row
from nbext.tools.code_interpreter.sandbox import Isolation, Limits

CHECK_NAMES = [name for name, _ in doctor.CHECKS]
SEGFAULTS = [
    "import ctypes; ctypes.string_at(0)",
    "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
]


# -- the child runner ------------------------------------------------------------------


@pytest.mark.parametrize("code", SEGFAULTS)
def test_a_child_killed_by_sigsegv_is_reported_by_name(code: str) -> None:
    row = doctor.probe_generation(Path("/nowhere.gguf"), code=code, timeout=60)
    # Still running here: the crash stayed in the child.
    assert row.status == FAIL
    assert "crashed with SIGSEGV (signal 11)" in row.found
    assert "does not run on this CPU" in row.found
    assert "binder/build-llama-cpp" in row.fix


def test_a_child_that_exits_1_fails_with_its_stderr_tail() -> None:
    code = (
        "import sys\n"
        "for n in range(20): print(f'noise {n}', file=sys.stderr)\n"
        "print('ValueError: no model at /nowhere.gguf', file=sys.stderr)\n"
        "sys.exit(1)\n"
    )
    row = doctor.probe_generation(Path("/nowhere.gguf"), code=code, timeout=60)
    assert row.status == FAIL
    assert "exited with status 1" in row.found
    assert "ValueError: no model at /nowhere.gguf" in row.found
    assert "noise 19" in row.found and "noise 0" not in row.found  # the tail only


def test_a_child_that_hangs_is_killed_and_fails() -> None:
    started = time.monotonic()
    row = doctor.probe_generation(
        Path("/nowhere.gguf"), code="import time; time.sleep(120)", timeout=1
    )
    assert time.monotonic() - started < 30
    assert row.status == FAIL
    assert "did not finish within 1 s" in row.found


def test_a_child_that_succeeds_reports_its_timings() -> None:
    code = 'print(\'{"load_s": 0.5, "generate_s": 0.25, "text": " Paris"}\')'
    row = doctor.probe_generation(Path("/nowhere.gguf"), code=code, timeout=60)
    assert row.status == OK
    assert "' Paris'" in row.found and "load 0.5 s" in row.found


def test_a_check_that_raises_becomes_a_fail_row(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: doctor.Context) -> Row:
        raise RuntimeError("bug in a check")

    def fine(ctx: doctor.Context) -> Row:
        return Row(OK, "after", "still ran")

    monkeypatch.setattr(doctor, "CHECKS", (("broken", broken), ("after", fine)))
    rows = doctor.run_checks(Settings.from_env(), quick=True, on_row=lambda row: None)
    assert [row.status for row in rows] == [FAIL, OK]
    assert "RuntimeError: bug in a check" in rows[0].found
    assert doctor.exit_status(rows) == 1


# -- the llama.cpp build against the CPU ---------------------------------------------------

PORTABLE = ["SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2"]
CPU_AVX2 = {"pni", "ssse3", "avx", "avx2", "f16c", "fma", "bmi2"}
CPU_AVX512_AMX = CPU_AVX2 | {"avx512f", "avx512vbmi", "avx512_vnni", "avx512_bf16", "amx_int8"}


@pytest.mark.parametrize(
    ("build", "cpu", "status", "says"),
    [
        (PORTABLE, CPU_AVX2, OK, "uses SSE3 SSSE3 AVX AVX2 F16C FMA BMI2"),
        (PORTABLE, CPU_AVX512_AMX, OK, "uses SSE3"),
        ([*PORTABLE, "AVX512"], CPU_AVX2, FAIL, "lacks AVX512 (avx512f): it will die with SIGILL"),
        ([*PORTABLE, "AVX512", "AMX_INT8"], CPU_AVX512_AMX, WARN, "native, not portable build"),
        ([*PORTABLE, "AVX512"], CPU_AVX2 | {"avx512f"}, WARN, "native, not portable build"),
        (PORTABLE, None, WARN, "cannot read CPU flags"),
        ([*PORTABLE, "AMX_INT8"], None, WARN, "native, not portable build"),
    ],
)
def test_cpu_feature_comparison(
    build: list[str], cpu: set[str] | None, status: str, says: str
) -> None:
    row = doctor.compare_cpu_features(build, cpu)
    assert row.status == status
    assert says in row.found
    assert ("build-llama-cpp" in row.fix) == (status != OK)


def test_system_info_is_parsed_into_instruction_sets() -> None:
    info = (
        "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
        "AVX512 = 1 | AVX512_VNNI = 0 | AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
    )
    parsed = doctor.parse_system_info(info)
    assert parsed["SSE3"] == "1" and parsed["AVX512_VNNI"] == "0" and parsed["OPENMP"] == "1"
    assert doctor.build_instruction_sets(parsed) == [*PORTABLE, "AVX512", "AMX_INT8"]


def test_cpu_flags_come_from_the_flags_line(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu pni avx2\nbugs\t\t: spectre\n")
    expected = {"fpu", "pni", "avx2"} if sys.platform.startswith("linux") else None
    assert doctor.read_cpu_flags(cpuinfo) == expected
    cpuinfo.write_text("processor\t: 0\nFeatures\t: fp asimd\n")  # arm64: no x86 flags
    assert doctor.read_cpu_flags(cpuinfo) is None
    assert doctor.read_cpu_flags(tmp_path / "missing") is None


# -- code interpreter isolation ------------------------------------------------------------


def test_isolation_lists_active_and_missing_protections() -> None:
    partial = Isolation(netns=True, mount=True, setuid=False, kernel_python="3.11.7")
    row = doctor.isolation_row(partial, Limits(), is_root=False)
    assert row.status == WARN
    assert "active: network namespace, private /mnt/data mount" in row.found
    assert (
        "not active: private PID namespace and /proc, private uid, "
        "/proc hiding other uids (hidepid)" in row.found
    )
    assert "60 s wall, 120 CPU s, 1 GiB memory, 64 processes, 32 KiB output" in row.found
    assert "root" in row.fix
    full = Isolation(
        netns=True, mount=True, setuid=True, kernel_python="3.11.7", proc=True, pidns=True
    )
    assert doctor.isolation_row(full, Limits(), is_root=True).status == OK
    unprivileged = Isolation(
        netns=True, mount=True, setuid=False, kernel_python="3.11.7", userns=True, pidns=True
    )
    row = doctor.isolation_row(unprivileged, Limits(), is_root=False)
    assert "active: network namespace, private /mnt/data mount, private PID namespace" in row.found
    assert "not active: private uid, /proc hiding other uids (hidepid)" in row.found
    dead = Isolation(False, False, False, "", ("kernel interpreter unusable",))
    assert doctor.isolation_row(dead, Limits(), is_root=True).status == FAIL


# -- the summary %nbext shows ----------------------------------------------------------------


def _settings(home: Path) -> Settings:
    return Settings.from_env({"NBEXT_HOME": str(home)})


def test_last_summary_before_any_run(tmp_path: Path) -> None:
    assert doctor.last_summary(_settings(tmp_path)) == (
        "not run yet: run `nbext doctor` in a terminal"
    )


def test_last_summary_of_an_all_ok_and_a_warning_report(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    rows = [Row(OK, name, "fine") for name in CHECK_NAMES]
    doctor.write_report(settings, doctor.build_report(rows, quick=False))
    summary = doctor.last_summary(settings)
    assert summary.startswith("8 ok — nbext doctor, ")
    assert summary[len("8 ok — nbext doctor, ") :][:2] == "20"  # a date follows
    rows[6] = Row(WARN, "chromium", "not found", "apt-get install -y chromium")
    doctor.write_report(settings, doctor.build_report(rows, quick=True))
    assert doctor.last_summary(settings).startswith(
        "7 ok, 1 warning (chromium) — nbext doctor --quick, "
    )


def test_last_summary_of_a_report_with_failures(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    rows = [Row(OK, name, "fine") for name in CHECK_NAMES]
    rows[1] = Row(FAIL, "llama.cpp build", "lacks AVX512", "rebuild")
    rows[3] = Row(FAIL, "generation", "crashed with SIGILL (signal 4)", "rebuild")
    doctor.write_report(settings, doctor.build_report(rows, quick=False))
    assert doctor.last_summary(settings) == (
        "2 FAIL (llama.cpp build, generation) — run `nbext doctor` in a terminal"
    )
    (tmp_path / "doctor.json").write_text("{half a rep")
    assert "unreadable report" in doctor.last_summary(settings)


def test_importing_the_doctor_stays_light() -> None:
    code = (
        "import sys, nbext.doctor\n"
        "heavy = {'llama_cpp', 'tokenizers', 'nbext.tools.code_interpreter.sandbox'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# -- end to end, on this machine ---------------------------------------------------------------


def _doctor_env(tmp_path: Path) -> dict[str, str]:
    """A fresh NBEXT_HOME whose models/ is the real model cache (nothing big copied)."""
    real_models = Settings.from_env().model_dir
    real_models.mkdir(parents=True, exist_ok=True)
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(real_models, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k not in ("NBEXT_BACKEND_URL", "NBEXT_THREADS")}
    return env | {"NBEXT_HOME": str(home)}


def _nbext_command() -> list[str]:
    script = Path(sys.executable).with_name("nbext")
    if script.is_file():
        return [str(script)]
    found = shutil.which("nbext")
    return [found] if found else [sys.executable, "-m", "nbext.cli"]


def test_nbext_doctor_on_this_machine(tmp_path: Path) -> None:
    env = _doctor_env(tmp_path)
    done = subprocess.run(
        [*_nbext_command(), "doctor"], env=env, capture_output=True, text=True, timeout=900
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["status", "check", "found"]
    for name in CHECK_NAMES:
        assert any(
            line.split(maxsplit=1)[1].startswith(name)
            for line in lines
            if line.startswith(("ok ", "warn ", "FAIL "))
        ), name
    assert "FAIL " not in done.stdout
    report = json.loads((Path(env["NBEXT_HOME"]) / "doctor.json").read_text())
    assert [row["name"] for row in report["rows"]] == CHECK_NAMES
    assert report["exit_status"] == 0 and report["quick"] is False
    generation = report["rows"][CHECK_NAMES.index("generation")]
    assert generation["status"] == OK and "1 token" in generation["found"]
    model = report["rows"][CHECK_NAMES.index("model file")]
    assert "sha256 ok" in model["found"]
    summary = doctor.last_summary(_settings(Path(env["NBEXT_HOME"])))
    assert summary.endswith(report["timestamp"][:10] + " " + report["timestamp"][11:16])


def test_nbext_doctor_quick_json(tmp_path: Path) -> None:
    env = _doctor_env(tmp_path)
    done = subprocess.run(
        [*_nbext_command(), "doctor", "--quick", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)  # nothing but JSON on stdout
    assert report["quick"] is True
    assert [row["name"] for row in report["rows"]] == CHECK_NAMES
    generation = report["rows"][CHECK_NAMES.index("generation")]
    assert generation["found"] == "not run (--quick)"
    assert Path(report["report"]) == Path(env["NBEXT_HOME"]) / "doctor.json"
