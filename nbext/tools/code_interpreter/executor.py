"""code_interpreter as a tool of a run: copy the inputs in, run the code, record the call.

One sandboxed kernel per thread under ``<data dir>/sandboxes``; the
assistant's and the thread's code_interpreter files are copied into it
(under their upload names) before the code runs. The run step records
``input`` and ``outputs``: ``logs`` (stdout, stderr, the traceback or the
limit that stopped the code) and one ``image`` per figure, stored as a file
with purpose ``assistants_output``. Files the code writes become
``assistants_output`` files too. When a limit stops the code (wall-clock
time-out, memory cap, process cap), the step is marked ``failed`` and the
run fails with the limit's message; the kernel restarts, so the thread stays
usable for the next run.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path, PurePosixPath
from typing import Any

from openai.types.beta.threads.runs import CodeInterpreterToolCall
from openai.types.chat import ChatCompletionFunctionToolParam

from nbext.store import Store
from nbext.tools.code_interpreter import reaper
from nbext.tools.code_interpreter.annotator import MOUNT, RunOutputs
from nbext.tools.code_interpreter.manager import CodeInterpreter
from nbext.tools.code_interpreter.result import ExecutionResult
from nbext.tools.code_interpreter.sandbox import Limits
from nbext.tools.question import question_footer
from nbext.tools.registry import ToolContext, ToolResult
from nbext.tools.resources import FileAccess

DEFINITION: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "code_interpreter",
        "description": "Run Python code in a sandboxed interpreter and get back what it prints. "
        "Use it for arithmetic, data analysis, plots and anything that needs exact "
        "computation. Always print() the result.",
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python code to run."}},
            "required": ["code"],
        },
    },
}
"""How code_interpreter is described to the model once it can run (plots included)."""


class CodeInterpreterExecutor:
    """The executor: ``execute(call_id, arguments, context) -> ToolResult``."""

    def __init__(
        self,
        store: Store,
        files: FileAccess,
        sandboxes: Path,
        outputs: RunOutputs,
        *,
        limits: Limits | None = None,
        idle_timeout: float | None = 600.0,
    ) -> None:
        self.store = store
        self.files = files
        self.sandboxes = Path(sandboxes)
        self.outputs = outputs
        self.limits = limits or Limits()
        self.idle_timeout = idle_timeout
        self._interpreter: CodeInterpreter | None = None
        self._lock = threading.Lock()
        self._copied: dict[str, dict[str, str]] = {}  # thread -> file id -> name in the sandbox
        # At start-up, not at the first execution: a killed server's kernels
        # and what they started must not wait for someone to run code.
        reaper.reap(self.sandboxes)

    def interpreter(self) -> CodeInterpreter:
        """Started on first use: a server that never runs code never probes the sandbox."""
        with self._lock:
            if self._interpreter is None:
                self.sandboxes.mkdir(parents=True, exist_ok=True)
                # The whole data directory (database, uploads, every thread's
                # sandbox) is out of the kernels' sight.
                self._interpreter = CodeInterpreter(
                    self.sandboxes,
                    limits=self.limits,
                    idle_timeout=self.idle_timeout,
                    hide=(self.sandboxes.parent,),
                )
            return self._interpreter

    def shutdown(self) -> None:
        with self._lock:
            if self._interpreter is not None:
                self._interpreter.shutdown()

    def forget_thread(self, thread_id: str) -> None:
        """A deleted thread's sandbox goes with it."""
        self._copied.pop(thread_id, None)
        if self._interpreter is not None and (self.sandboxes / thread_id).exists():
            self._interpreter.remove(thread_id)

    def execute(self, call_id: str, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        code = str(arguments.get("code") or arguments.get("raw") or arguments.get("input") or "")
        thread_id = context.thread.id
        interpreter = self.interpreter()
        inputs = self._copy_inputs(context, interpreter)
        result = interpreter.execute(thread_id, code) if code.strip() else _nothing_to_run()
        outputs: list[dict[str, Any]] = []
        logs = result.logs
        if result.status != "ok" and result.error and result.error not in logs:
            logs = f"{logs}\n{result.error}" if logs else result.error
        if logs:
            outputs.append({"type": "logs", "logs": logs})
        failed = result.status != "ok"
        if failed:
            told = [f"The code failed:\n{logs}" if logs else "The code failed."]
        else:
            told = [f"The code printed:\n{logs}" if logs else "The code printed nothing."]
        for i, png in enumerate(result.images):
            image = self.files.create_output(context.owner, f"{call_id}-image-{i}.png", png)
            outputs.append({"type": "image", "image": {"file_id": image.id}})
            self.outputs.images.setdefault(context.run_id, []).append(image.id)
            told.append(f"It drew a figure, which the user can see ({image.id}).")
        for written in result.files:
            name = PurePosixPath(written.path).name
            created = self.files.create_output(context.owner, name, written.data)
            self.outputs.files.setdefault(context.run_id, []).append((written.path, created.id))
            told.append(f"It wrote the file {MOUNT}/{written.path} ({created.id}).")
        if inputs:
            told.append(f"Input files in {MOUNT}: " + ", ".join(inputs) + ".")
        missing = missing_package_note(code, logs)
        retry = missing or ("Fix the code and run it again." if failed else None)
        told.append(question_footer(self.store, context, retry=retry))
        call = CodeInterpreterToolCall.model_validate(
            {
                "id": call_id,
                "type": "code_interpreter",
                "code_interpreter": {"input": code, "outputs": outputs},
            }
        )
        error = None
        if _hit_limit(result):
            error = f"code_interpreter: the code was stopped by a limit: {result.error}"
            self.outputs.forget(context.run_id)
        return ToolResult("\n".join(told), call, error)

    def _copy_inputs(self, context: ToolContext, interpreter: CodeInterpreter) -> list[str]:
        """The assistant's and thread's code_interpreter files, in the sandbox; their names."""
        wanted: list[str] = []
        for holder in (context.assistant, context.thread):
            resources = getattr(holder, "tool_resources", None)
            code = getattr(resources, "code_interpreter", None) if resources else None
            wanted.extend(getattr(code, "file_ids", None) or [])
        copied = self._copied.setdefault(context.thread.id, {})
        for file_id in dict.fromkeys(wanted):
            if file_id in copied:
                continue
            found = self.files.find(context.owner, file_id)
            if found is None:
                continue  # deleted since it was attached
            _, data = self.files.content(context.owner, file_id)
            name = found.filename
            if name in copied.values():
                name = f"{file_id}-{name}"
            interpreter.put_file(context.thread.id, name, data)
            copied[file_id] = name
        return [copied[f] for f in dict.fromkeys(wanted) if f in copied]


_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")
_PIP_INSTALL = re.compile(r"^\s*[!%]?\s*(?:pip3?|python3? -m pip) install\b", re.MULTILINE)
_WHAT_THERE_IS = "Python's standard library (math, statistics, fractions, itertools) or numpy"


def missing_package_note(code: str, logs: str) -> str | None:
    """What to do next when the code needs a package the sandbox lacks, or installs one.

    Told only "fix the code", both embedded models tried ``pip install`` (which
    cannot work: no network) and then reported that as the answer (tool eval,
    pandas, sympy and scipy tasks); told what is there, a model can rewrite it.
    """
    if found := _MISSING_MODULE.search(logs):
        module = found.group(1).split(".")[0]
        return (
            f"The module {module} is not installed, and packages cannot be installed here "
            f"(no network). Run the code again without it, using {_WHAT_THERE_IS}."
        )
    if _PIP_INSTALL.search(code):
        return (
            "Packages cannot be installed here (no network). "
            f"Run the code again using {_WHAT_THERE_IS}."
        )
    return None


def _nothing_to_run() -> ExecutionResult:
    return ExecutionResult("error", error="No code was given: pass the Python code in 'code'.")


def _hit_limit(result: ExecutionResult) -> bool:
    """A limit stopped the code (not merely an exception the code raised)."""
    if result.status in ("timeout", "killed"):
        return True
    return result.status == "error" and (result.error or "").startswith("MemoryError")
