"""Tool use left to the model: does it call tools when it should, rightly, and answer from them?

An eval over a labelled set written for it (``benchmarks/data/tool_eval/``):

- **function** cases: a question and 1-5 function tools. Some need a tool
  (live or private data: a fictional order, ticker, colleague), some do not
  (a haiku, "What is 7 times 8?"). Scored: the call decision (precision,
  recall, F1), the choice among several tools, and the first call's
  arguments (valid against the tool's JSON schema, and equal to the labelled
  values). When the run reaches ``requires_action`` the eval submits the
  case's canned output (fictional facts) and reads the final answer.
- **code** cases (code_interpreter): tasks with a checkable answer (a number,
  a string, a file written, checked through its ``file_path`` annotation and
  its content). Some tempt a first attempt that fails (pandas, sympy and
  scipy are not installed; a helper or variable that does not exist), so a
  run can only solve them by reading the traceback and trying again:
  recovery is counted (an execution that raised, followed by one that did not).
- **file_search** cases: questions answered by one of three documents
  written for the eval (``docs/``), all in one vector store attached to the
  assistant; the answer must hold the fact and carry a ``file_citation`` of
  that document.
- **answer** (over every run in which a tool's result came back): the answer
  holds the value the tool returned, is prose (no tool call written out as
  JSON, in any message of any run), is not a refusal, is not empty.
- **cost**: model calls per run (the run's ``/prompts`` records, nbext's own
  window onto the Chat Completions requests a run made), prompt and
  completion tokens (``run.usage``), wall time from ``runs.create`` to the
  run's end.

Everything goes through a real server and the official ``openai`` SDK
(``client.beta.assistants/threads/runs``), with ``tool_choice`` left unset
(``auto``), once at the API's default temperature (unset) and once at 0.

Configurations are measured side by side in one run: ``--config
LABEL=SOURCE[,ENV=VALUE...]``, where SOURCE is a git ref of this repository
(exported with ``git archive`` into a temporary directory) or a directory
holding an nbext source tree. Each configuration gets its own ``nbext serve``
process started from that tree (``PYTHONPATH``), with a fresh temporary
``NBEXT_HOME`` whose ``models`` is a symlink to ``~/.cache/nbext/models``,
its own port and key, and the given environment variables (e.g.
``NBEXT_MODEL``). The defaults are ``baseline=abf1c73`` (main before issue 11)
and ``current=.`` (the working tree). Given ``--config`` options replace the
defaults: to compare a branch with the baseline pass both. Each case runs on
every configuration and temperature before the next case (order rotated from
case to case), so a slow patch of the shared machine hits them alike.

Usage::

    python benchmarks/tool_eval.py --quick                   # 10 cases, a few minutes
    python benchmarks/tool_eval.py --json /tmp/tool_eval.json  # all cases, hours
    python benchmarks/tool_eval.py --config baseline=abf1c73 --config levers=../wt-tool-levers
    python benchmarks/tool_eval.py --cases '^fn-' --limit 5 --temperatures 0
    python benchmarks/tool_eval.py --report /tmp/tool_eval.json  # the tables again, no run

Prints one table per category (one row per configuration x temperature,
proportions with 95 % Wilson intervals, the issue's goals beside them) and a
cost table. The exit status does not depend on the goals. A code task counts
as solved when code ran and the answer (or the file) is right; a right answer
without running code is shown apart.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
from bench_assistants import _free_port, _wait_healthy
from bench_kernels import bench_home, kit_environ, machine_lines
from openai.types.beta import AssistantToolParam
from openai.types.beta.threads import Run
from tool_eval_scoring import (
    Decision,
    arguments_valid,
    bare_json,
    code_failed,
    contains_all,
    f1_interval,
    is_refusal,
    raw_tool_call,
    recovered,
    wilson,
)

from nbext.client import quiet_assistants_deprecation

DATA = Path(__file__).parent / "data" / "tool_eval"
REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIGS = ["baseline=abf1c73", "current=."]
INSTRUCTIONS = "You are a helpful assistant."
"""The same plain instructions for every case: the eval measures the kit, not a prompt."""
FALLBACK_OUTPUT = json.dumps({"result": "no data"})
"""What a function call the case did not expect gets back (a neutral, empty result)."""
MAX_SUBMITS = 3
"""Rounds of tool outputs a run may ask for before the eval cancels it."""
POLL_S = 0.2
CATEGORIES = ("function", "code", "file_search")
GOALS = {"f1": 0.9, "args": 0.95, "code": 0.8, "uses_result": 0.9}


# -- the data set -------------------------------------------------------------------------


def load_cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / "cases.jsonl").read_text().splitlines() if line]


def load_functions() -> dict[str, dict[str, Any]]:
    return json.loads((DATA / "functions.json").read_text())


def documents() -> list[Path]:
    return sorted((DATA / "docs").glob("*.md"))


def interleave_categories(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Round-robin over the categories, so a partial run (``--limit``) covers all of them."""
    queues = {c: [case for case in cases if case["category"] == c] for c in CATEGORIES}
    ordered: list[dict[str, Any]] = []
    while any(queues.values()):
        for queue in queues.values():
            if queue:
                ordered.append(queue.pop(0))
    return ordered


# -- configurations and their servers -------------------------------------------------------


@dataclass(frozen=True)
class Config:
    label: str
    source: str
    env: dict[str, str]


def parse_config(text: str) -> Config:
    """``LABEL=SOURCE[,ENV=VALUE...]``."""
    label, sep, rest = text.partition("=")
    if not sep or not label or not rest:
        raise argparse.ArgumentTypeError(
            f"--config wants LABEL=SOURCE[,ENV=VALUE...], not {text!r}"
        )
    source, *pairs = rest.split(",")
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"--config {label}: {pair!r} is not ENV=VALUE")
        env[name] = value
    return Config(label, source, env)


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def export_source(source: str, scratch: Path) -> tuple[Path, str]:
    """The nbext source tree of ``source`` and a description of it.

    A directory holding ``nbext/__init__.py`` is used as it is; anything else
    is a git ref of this repository, exported with ``git archive``.
    """
    path = Path(source).expanduser()
    if (path / "nbext" / "__init__.py").is_file():
        path = path.resolve()
        try:
            commit = git("rev-parse", "--short", "HEAD", cwd=path)
            dirty = git("status", "--porcelain", "--untracked-files=no", cwd=path)
            described = f"{path} at {commit}" + (" + uncommitted changes" if dirty else "")
        except (subprocess.CalledProcessError, FileNotFoundError):
            described = str(path)
        return path, described
    try:
        commit = git("rev-parse", "--verify", "--quiet", f"{source}^{{commit}}")
    except subprocess.CalledProcessError:
        raise SystemExit(
            f"{source!r} is neither a directory holding nbext/ nor a git ref of {REPO}"
        ) from None
    tree = Path(tempfile.mkdtemp(prefix=f"src-{commit[:9]}-", dir=scratch))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    return tree, f"git {source} = {commit[:9]} (exported to {tree})"


@dataclass
class Server:
    """One configuration's ``nbext serve``, its client and its file_search corpus."""

    config: Config
    tree: Path
    described: str
    home: Path = field(init=False)
    key: str = field(init=False)
    port: int = field(init=False)
    proc: subprocess.Popen[bytes] | None = field(init=False, default=None)
    client: openai.OpenAI = field(init=False)
    model: str = field(init=False)
    status: dict[str, Any] = field(init=False, default_factory=dict)
    file_ids: dict[str, str] = field(init=False, default_factory=dict)
    """Document name -> file id."""
    vector_store_id: str = field(init=False, default="")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        self.home = bench_home(f"nbext-tool-eval-{self.config.label}-")
        self.key = "tool-eval-" + secrets.token_urlsafe(16)
        self.port = _free_port()
        env = kit_environ(self.home, PYTHONPATH=str(self.tree), **self.config.env)
        imported = subprocess.run(
            [sys.executable, "-c", "import nbext; print(nbext.__file__)"],
            env=env,
            cwd=self.home,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not Path(imported).resolve().is_relative_to(self.tree.resolve()):
            raise SystemExit(f"{self.config.label}: nbext comes from {imported}, not {self.tree}")
        command = [sys.executable, "-m", "nbext.cli", "serve", "--port", str(self.port)]
        with open(self.home / "serve.log", "wb") as log:
            self.proc = subprocess.Popen(
                [*command, "--api-key", self.key],
                env=env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_healthy(f"http://127.0.0.1:{self.port}/health", self.proc, timeout=120)
        self.client = openai.OpenAI(
            base_url=self.base_url, api_key=self.key, max_retries=1, timeout=300
        )
        self.status = self.get("/nbext/status")
        self.model = self.config.env.get("NBEXT_MODEL") or str(self.status.get("model"))
        # Load the model now, so the first case's wall time is not the load.
        self.client.chat.completions.create(
            model=self.model, messages=[{"role": "user", "content": "Say OK."}], max_tokens=2
        )
        self.upload_corpus()

    def upload_corpus(self) -> None:
        for path in documents():
            uploaded = self.client.files.create(
                file=(path.name, path.read_bytes()), purpose="assistants"
            )
            self.file_ids[path.name] = uploaded.id
        store = self.client.vector_stores.create(
            name="tool-eval documents", file_ids=list(self.file_ids.values())
        )
        deadline = time.monotonic() + 300
        while store.status == "in_progress" and time.monotonic() < deadline:
            time.sleep(0.5)
            store = self.client.vector_stores.retrieve(store.id)
        if store.status != "completed" or store.file_counts.completed != len(self.file_ids):
            raise SystemExit(f"{self.config.label}: vector store not ready: {store}")
        self.vector_store_id = store.id

    def get(self, path: str) -> Any:
        """GET one of the server's own JSON routes (``/nbext/status``, a run's ``/prompts``)."""
        request = urllib.request.Request(
            self.base_url + path, headers={"Authorization": f"Bearer {self.key}"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(
                (self.home / "serve.log").read_text(errors="replace").splitlines()[-lines:]
            )
        return "(no log)"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # uvicorn shuts down: code_interpreter kernels go with it
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(AttributeError):
            shutil.rmtree(self.home, ignore_errors=True)


# -- one case, one run ----------------------------------------------------------------------


def tools_of(
    case: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> list[AssistantToolParam]:
    tools: list[AssistantToolParam] = []
    for name in case["tools"]:
        if name in ("code_interpreter", "file_search"):
            tools.append({"type": name})  # type: ignore[typeddict-item,misc]
        else:
            tools.append({"type": "function", "function": {"name": name, **functions[name]}})
    return tools


def canned_output(case: dict[str, Any], name: str) -> str:
    if name == case.get("expect_call") and case.get("output") is not None:
        output = case["output"]
        return output if isinstance(output, str) else json.dumps(output)
    return FALLBACK_OUTPUT


def run_case(
    server: Server,
    case: dict[str, Any],
    temperature: float | None,
    functions: dict[str, dict[str, Any]],
    timeout_s: float,
) -> dict[str, Any]:
    """One run of ``case`` on ``server``: what the API returned, unjudged."""
    client = server.client
    resources: dict[str, Any] = {}
    if "file_search" in case["tools"]:
        resources = {"file_search": {"vector_store_ids": [server.vector_store_id]}}
    assistant = client.beta.assistants.create(
        model=server.model,
        instructions=INSTRUCTIONS,
        tools=tools_of(case, functions),
        tool_resources=resources or None,  # type: ignore[arg-type]
    )
    thread = client.beta.threads.create(messages=[{"role": "user", "content": case["prompt"]}])
    options: dict[str, Any] = {} if temperature is None else {"temperature": temperature}
    started = time.perf_counter()
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, **options)
    function_calls: list[dict[str, str]] = []
    submits = 0
    timed_out = False
    while True:
        if run.status in ("queued", "in_progress", "cancelling"):
            if not timed_out and time.perf_counter() - started > timeout_s:
                timed_out = True
                with contextlib.suppress(openai.BadRequestError):  # it ended meanwhile
                    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
            if time.perf_counter() - started > timeout_s + 60:
                break  # not even cancelled: give up on it
            time.sleep(POLL_S)
            run = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        elif run.status == "requires_action" and run.required_action is not None:
            calls = run.required_action.submit_tool_outputs.tool_calls
            function_calls += [
                {"name": c.function.name, "arguments": c.function.arguments} for c in calls
            ]
            submits += 1
            if submits > MAX_SUBMITS or timed_out:
                run = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
                continue
            run = client.beta.threads.runs.submit_tool_outputs(
                run.id,
                thread_id=thread.id,
                tool_outputs=[
                    {"tool_call_id": c.id, "output": canned_output(case, c.function.name)}
                    for c in calls
                ],
            )
        else:
            break
    wall_s = time.perf_counter() - started
    return {
        "case": case["id"],
        "category": case["category"],
        "config": server.config.label,
        "temperature": temperature,
        "status": run.status,
        "timed_out": timed_out,
        "last_error": run.last_error.model_dump() if run.last_error else None,
        "incomplete": run.incomplete_details.model_dump() if run.incomplete_details else None,
        "wall_s": round(wall_s, 3),
        "usage": run.usage.model_dump() if run.usage else None,
        "function_calls": function_calls,
        "submits": submits,
        "file_ids": server.file_ids if resources else {},
        **tool_steps(client, run),
        **answer_messages(client, run),
        **model_calls(server, run),
    }


def tool_steps(client: openai.OpenAI, run: Run) -> dict[str, Any]:
    """The run's code executions (input, logs, failed?) and file_search calls, in order."""
    executions: list[dict[str, Any]] = []
    searches: list[dict[str, Any]] = []
    steps = client.beta.threads.runs.steps.list(
        run.id, thread_id=run.thread_id, order="asc", limit=100
    )
    kinds: list[str] = []
    for step in steps:
        kinds.append(step.step_details.type)
        if step.step_details.type != "tool_calls":
            continue
        for call in step.step_details.tool_calls:
            if call.type == "code_interpreter":
                logs = "\n".join(o.logs for o in call.code_interpreter.outputs if o.type == "logs")
                executions.append(
                    {
                        "input": call.code_interpreter.input,
                        "logs": logs[:4000],
                        "failed": code_failed(logs) or step.status == "failed",
                    }
                )
            elif call.type == "file_search":
                results = call.file_search.results or []
                searches.append(
                    {
                        "files": [r.file_name for r in results],
                        "file_ids": [r.file_id for r in results],
                    }
                )
    return {"steps": kinds, "executions": executions, "searches": searches}


def answer_messages(client: openai.OpenAI, run: Run) -> dict[str, Any]:
    """The run's assistant messages (text and annotations) and the files they link to."""
    messages: list[dict[str, Any]] = []
    files: dict[str, str] = {}
    listed = client.beta.threads.messages.list(run.thread_id, run_id=run.id, order="asc", limit=100)
    for message in listed:
        if message.role != "assistant":
            continue
        texts: list[str] = []
        annotations: list[dict[str, str]] = []
        for block in message.content:
            if block.type != "text":
                continue
            texts.append(block.text.value)
            for note in block.text.annotations:
                file_id = (
                    note.file_citation.file_id
                    if note.type == "file_citation"
                    else note.file_path.file_id
                )
                annotations.append({"type": note.type, "text": note.text, "file_id": file_id})
                if note.type == "file_path" and file_id not in files:
                    with contextlib.suppress(openai.OpenAIError):
                        data = client.files.content(file_id).read()
                        files[file_id] = data[:20_000].decode("utf-8", "replace")
        messages.append({"text": "\n".join(texts), "annotations": annotations})
    return {"messages": messages, "files": files}


def model_calls(server: Server, run: Run) -> dict[str, Any]:
    """How many Chat Completions calls the run made, and what each answered.

    From the run's ``/prompts`` (nbext's own route); a tree without it falls
    back to counting the run's steps, which undercounts a call that produced
    both a message and tool calls as two.
    """
    try:
        page = server.get(f"/threads/{run.thread_id}/runs/{run.id}/prompts?limit=100")
    except urllib.error.HTTPError:
        return {"model_calls": None, "responses": []}
    responses = []
    for record in page.get("data", []):
        response = record.get("response") or {}
        responses.append(
            {
                "content": (response.get("content") or "")[:2000],
                "tool_calls": [
                    c.get("function", {}).get("name") for c in response.get("tool_calls") or []
                ],
                "finish_reason": record.get("finish_reason"),
            }
        )
    return {"model_calls": len(responses), "responses": responses}


# -- judging one run --------------------------------------------------------------------------


def judge(
    record: dict[str, Any],
    case: dict[str, Any],
    functions: dict[str, dict[str, Any]],
    file_ids: dict[str, str],
) -> dict[str, Any]:
    """What the run got right, from its raw record (see :mod:`tool_eval_scoring`)."""
    texts = [m["text"] for m in record["messages"]]
    answer = "\n".join(texts)
    required = case.get("answer_contains") or []
    verdict: dict[str, Any] = {
        "completed": record["status"] == "completed",
        "raw_json": any(raw_tool_call(t) for t in texts),
        "bare_json": any(bare_json(t) for t in texts),
        "refusal": is_refusal(answer),
        "empty": not answer.strip(),
    }
    category = case["category"]
    if category == "function":
        expected = case.get("expect_call")
        calls = record["function_calls"]
        verdict["should_call"] = bool(expected)
        verdict["called"] = bool(calls)
        verdict["first_call"] = calls[0]["name"] if calls else None
        if expected and calls:
            verdict["right_tool"] = calls[0]["name"] == expected
        chosen = next((c for c in calls if c["name"] == expected), None)
        if chosen is not None:
            check = arguments_valid(
                functions[expected]["parameters"], chosen["arguments"], case.get("arguments") or {}
            )
            verdict |= {
                "args_valid": check.valid,
                "args_correct": check.correct,
                "args_problem": check.problem,
            }
        verdict["tool_result"] = chosen is not None
    elif category == "code":
        failures = [e["failed"] for e in record["executions"]]
        verdict["ran"] = bool(failures)
        verdict["tool_result"] = bool(failures)
        verdict["failed_executions"] = sum(failures)
        verdict["first_failed"] = bool(failures) and failures[0]
        verdict["recovered"] = recovered(failures)
        solved = contains_all(answer, required)
        if case.get("file"):
            linked = [
                record["files"].get(a["file_id"], "")
                for m in record["messages"]
                for a in m["annotations"]
                if a["type"] == "file_path" and a["text"].endswith(case["file"])
            ]
            verdict["file_ok"] = any(contains_all(c, case["file_contains"]) for c in linked)
            solved = solved and verdict["file_ok"]
        verdict["solved"] = solved
    else:
        citations = [a for m in record["messages"] for a in m["annotations"]]
        cited = {a["file_id"] for a in citations if a["type"] == "file_citation"}
        verdict["searched"] = bool(record["searches"])
        verdict["tool_result"] = bool(record["searches"])
        verdict["has_fact"] = contains_all(answer, required)
        verdict["cited_any"] = bool(cited)
        verdict["cited_right"] = file_ids.get(case["document"]) in cited
        verdict["solved"] = verdict["has_fact"] and verdict["cited_right"]
    if verdict["tool_result"] and required:
        verdict["uses_result"] = contains_all(answer, required)
    return verdict


def progress_note(case: dict[str, Any], record: dict[str, Any], verdict: dict[str, Any]) -> str:
    calls = record["model_calls"]
    parts = [f"{record['status']}{' (timed out)' if record['timed_out'] else ''}"]
    parts.append(f"{record['wall_s']:.1f} s, {calls if calls is not None else '?'} model calls")
    if case["category"] == "function":
        if verdict["called"]:
            names = ",".join(c["name"] for c in record["function_calls"])
            args = (
                ""
                if "args_correct" not in verdict
                else (
                    " args ok"
                    if verdict["args_correct"]
                    else f" args wrong ({verdict['args_problem']})"
                )
            )
            parts.append(f"called {names}{args}")
        else:
            parts.append("no call")
        parts.append(
            "decision " + ("ok" if verdict["called"] == verdict["should_call"] else "WRONG")
        )
    elif case["category"] == "code":
        parts.append(
            f"{len(record['executions'])} executions ({verdict['failed_executions']} failed)"
        )
        parts.append("solved" if verdict["solved"] else "NOT solved")
    else:
        parts.append("searched" if verdict["searched"] else "no search")
        parts.append("fact " + ("ok" if verdict["has_fact"] else "MISSING"))
        parts.append("cited " + ("ok" if verdict["cited_right"] else "NO"))
    if "uses_result" in verdict and not verdict["uses_result"]:
        parts.append("answer ignores the result")
    if verdict["raw_json"]:
        parts.append("RAW TOOL-CALL JSON")
    elif verdict["bare_json"]:
        parts.append("answer is bare JSON")
    if verdict["refusal"]:
        parts.append("refusal")
    return "; ".join(parts)


# -- tables -------------------------------------------------------------------------------------


def temperature_label(temperature: float | None) -> str:
    return "default" if temperature is None else f"{temperature:g}"


def proportion(k: int, n: int) -> str:
    if n == 0:
        return "-"
    low, high = wilson(k, n)
    return f"{k / n:.0%} [{low:.0%}-{high:.0%}] ({k}/{n})"


def goal(value: float | None, target: float, n: int) -> str:
    if value is None or n == 0:
        return "-"
    return "met" if value >= target else "not met"


def markdown(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        lines.append(
            "| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        )
    return "\n".join(lines)


Judged = tuple[dict[str, Any], dict[str, Any]]
"""(raw record, verdict) of one run."""


def count(items: Sequence[Judged], key: str) -> tuple[int, int]:
    """(runs where ``key`` is true, runs where it is known)."""
    known = [v[key] for _, v in items if v.get(key) is not None]
    return sum(1 for x in known if x), len(known)


def function_table(groups: dict[tuple[str, str], list[Judged]]) -> str:
    header = [
        "config", "T", "n", "precision", "recall", "F1 [95% CI]", "goal F1 >= 0.9",
        "right tool among 2-5 (when called)", "args valid", "args correct", "goal args >= 95%",
    ]  # fmt: skip
    rows = []
    for (label, temp), items in groups.items():
        fn = [(r, v) for r, v in items if r["category"] == "function"]
        if not fn:
            continue
        pairs = [(v["should_call"], v["called"]) for _, v in fn]
        decision = Decision.of(pairs)
        low, high = f1_interval(pairs)
        choice = [(r, v) for r, v in fn if v.get("right_tool") is not None and len(r["tools"]) > 1]
        k_choice = sum(1 for _, v in choice if v["right_tool"])
        valid, n_args = count(fn, "args_valid")
        correct, _ = count(fn, "args_correct")
        rows.append(
            [
                label,
                temp,
                f"{len(fn)} ({sum(s for s, _ in pairs)} should call)",
                f"{decision.precision:.2f} ({decision.tp}/{decision.tp + decision.fp})",
                f"{decision.recall:.2f} ({decision.tp}/{decision.tp + decision.fn})",
                f"{decision.f1:.2f} [{low:.2f}-{high:.2f}]",
                goal(decision.f1, GOALS["f1"], len(fn)),
                proportion(k_choice, len(choice)),
                proportion(valid, n_args),
                proportion(correct, n_args),
                goal(correct / n_args if n_args else None, GOALS["args"], n_args),
            ]
        )
    return markdown(header, rows)


def code_table(groups: dict[tuple[str, str], list[Judged]]) -> str:
    """Solved: the answer (and the file, if one was asked for) is right and code ran."""
    header = [
        "config", "T", "n", "ran code", "right answer (code or not)", "solved with code",
        "goal >= 80%", "tempting ones solved", "files written right",
        "runs with a failed execution", "recovered (success after it)", "executions/run",
    ]  # fmt: skip
    rows = []
    for (label, temp), items in groups.items():
        code = [(r, v) for r, v in items if r["category"] == "code"]
        if not code:
            continue
        n = len(code)
        right = sum(1 for _, v in code if v["solved"])
        solved = sum(1 for _, v in code if v["solved"] and v["ran"])
        tempting = [v for r, v in code if r.get("tempting")]
        failing = [v for _, v in code if v["failed_executions"]]
        files_ok, n_files = count(code, "file_ok")
        rows.append(
            [
                label,
                temp,
                str(n),
                proportion(*count(code, "ran")),
                proportion(right, n),
                proportion(solved, n),
                goal(solved / n, GOALS["code"], n),
                proportion(sum(1 for v in tempting if v["solved"] and v["ran"]), len(tempting)),
                proportion(files_ok, n_files),
                proportion(len(failing), n),
                proportion(sum(1 for v in failing if v["recovered"]), len(failing)),
                f"{statistics.mean(len(r['executions']) for r, _ in code):.2f}",
            ]
        )
    return markdown(header, rows)


def file_search_table(groups: dict[tuple[str, str], list[Judged]]) -> str:
    header = [
        "config", "T", "n", "searched", "answer holds the fact", "cites a file",
        "cites the right file", "solved (fact + right citation)",
    ]  # fmt: skip
    rows = []
    for (label, temp), items in groups.items():
        found = [(r, v) for r, v in items if r["category"] == "file_search"]
        if not found:
            continue
        rows.append(
            [
                label,
                temp,
                str(len(found)),
                proportion(*count(found, "searched")),
                proportion(*count(found, "has_fact")),
                proportion(*count(found, "cited_any")),
                proportion(*count(found, "cited_right")),
                proportion(*count(found, "solved")),
            ]
        )
    return markdown(header, rows)


def answer_table(groups: dict[tuple[str, str], list[Judged]]) -> str:
    """Prose: no tool call written out, not bare JSON, not a refusal, not empty."""
    header = [
        "config", "T", "uses the tool result", "goal >= 90%", "runs with raw tool-call JSON",
        "goal 0", "answer is bare JSON data", "refusals", "empty answers", "prose answers",
    ]  # fmt: skip
    rows = []
    for (label, temp), items in groups.items():
        uses, n_uses = count(items, "uses_result")
        raw, n_all = count(items, "raw_json")
        prose = sum(
            1
            for _, v in items
            if not (v["raw_json"] or v.get("bare_json") or v["refusal"] or v["empty"])
        )
        rows.append(
            [
                label,
                temp,
                proportion(uses, n_uses),
                goal(uses / n_uses if n_uses else None, GOALS["uses_result"], n_uses),
                f"{raw}/{n_all}",
                "met" if raw == 0 else "not met",
                proportion(*count(items, "bare_json")),
                proportion(*count(items, "refusal")),
                proportion(*count(items, "empty")),
                proportion(prose, len(items)),
            ]
        )
    return markdown(header, rows)


def cost_table(groups: dict[tuple[str, str], list[Judged]]) -> str:
    header = [
        "config", "T", "category", "runs", "completed", "model calls/run (max)",
        "prompt tokens/run", "completion tokens/run", "wall s/run p50 (p90)", "wall total min",
    ]  # fmt: skip
    rows = []
    for (label, temp), items in groups.items():
        for category in ("all", *CATEGORIES):
            chosen = [r for r, _ in items if category in ("all", r["category"])]
            if not chosen:
                continue
            calls = [r["model_calls"] for r in chosen if r["model_calls"] is not None]
            usage = [r["usage"] for r in chosen if r["usage"]]
            walls = sorted(r["wall_s"] for r in chosen)
            p90 = walls[min(len(walls) - 1, round(0.9 * (len(walls) - 1)))]
            rows.append(
                [
                    label,
                    temp,
                    category,
                    str(len(chosen)),
                    proportion(sum(1 for r in chosen if r["status"] == "completed"), len(chosen)),
                    f"{statistics.mean(calls):.2f} ({max(calls)})" if calls else "-",
                    f"{statistics.mean(u['prompt_tokens'] for u in usage):,.0f}" if usage else "-",
                    f"{statistics.mean(u['completion_tokens'] for u in usage):,.0f}"
                    if usage
                    else "-",
                    f"{statistics.median(walls):.1f} ({p90:.1f})",
                    f"{sum(walls) / 60:.1f}",
                ]
            )
    return markdown(header, rows)


def report(results: list[Judged]) -> str:
    groups: dict[tuple[str, str], list[Judged]] = {}
    for record, verdict in results:
        key = (record["config"], temperature_label(record["temperature"]))
        groups.setdefault(key, []).append((record, verdict))
    groups = dict(sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] != "default")))
    sections = [
        ("Function tools: call decision, choice, arguments", function_table),
        ("code_interpreter: tasks solved, recovery after a failed execution", code_table),
        ("file_search: the fact, cited", file_search_table),
        ("The answer after a tool result (all categories)", answer_table),
        ("Cost per run", cost_table),
    ]
    return "\n\n".join(f"### {title}\n\n{table(groups)}" for title, table in sections)


# -- main ------------------------------------------------------------------------------------


def saved_report(path: Path) -> str:
    """The tables of a run saved by ``--json``, judged again with today's labels.

    A run saved before the eval kept its configurations' file ids gets them
    back from its citations (each marker names its file).
    """
    saved = json.loads(path.read_text())
    configs = saved["meta"]["configs"]
    lines = [*saved["meta"]["machine"]]
    lines += [f"config    {label}: {facts['source']}" for label, facts in configs.items()]
    cases = {c["id"]: c for c in load_cases()}
    functions = load_functions()
    results: list[Judged] = []
    for label, facts in configs.items():
        facts.setdefault("file_ids", cited_files(r for r in saved["runs"] if r["config"] == label))
    for run in saved["runs"]:
        verdict = run.pop("verdict")
        if run["case"] in cases:
            file_ids = run.get("file_ids") or configs[run["config"]]["file_ids"]
            verdict = judge(run, cases[run["case"]], functions, file_ids)
        results.append((run, verdict))
    return "\n".join(lines) + "\n\n" + report(results)


def cited_files(runs: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Document name -> file id, read from the citation markers (``【n:m†name】``) of ``runs``."""
    ids: dict[str, str] = {}
    for run in runs:
        for message in run["messages"]:
            for note in message["annotations"]:
                named = re.search(r"†([^】]*)】", note["text"])
                if note["type"] == "file_citation" and named:
                    ids.setdefault(named.group(1).strip(), note["file_id"])
    return ids


def select_cases(args: argparse.Namespace) -> list[dict[str, Any]]:
    cases = load_cases()
    if args.quick:
        cases = [c for c in cases if c.get("quick")]
    if args.cases:
        pattern = re.compile(args.cases)
        cases = [c for c in cases if pattern.search(c["id"])]
    cases = interleave_categories(cases)
    return cases[: args.limit] if args.limit else cases


def rotated(items: list[Any], shift: int) -> list[Any]:
    shift %= len(items)
    return items[shift:] + items[:shift]


def save(path: Path | None, meta: dict[str, Any], results: list[Judged]) -> None:
    if path is None:
        return
    body = {"meta": meta, "runs": [{**r, "verdict": v} for r, v in results]}
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(body, indent=1, ensure_ascii=False))
    tmp.replace(path)


def parse_temperature(text: str) -> float | None:
    return None if text == "default" else float(text)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config",
        action="append",
        type=parse_config,
        metavar="LABEL=SOURCE[,ENV=VALUE...]",
        help="a configuration to measure (repeatable; replaces the defaults "
        f"{' '.join(DEFAULT_CONFIGS)}); SOURCE is a git ref or a directory holding nbext/",
    )
    parser.add_argument("--quick", action="store_true", help="only the cases marked quick (10)")
    parser.add_argument("--cases", metavar="REGEX", help="only the cases whose id matches")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N cases")
    parser.add_argument(
        "--temperatures",
        nargs="+",
        type=parse_temperature,
        default=[None, 0.0],
        metavar="T",
        help="'default' (unset: the API's default) and/or numbers; default: default 0",
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="save raw per-run results here")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds before a run is cancelled (300)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="with --json: keep the runs that file already holds and do only the missing ones",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="JSON",
        help="run nothing: print the tables of a file saved by --json (judged again)",
    )
    args = parser.parse_args()
    if args.report:
        print(saved_report(args.report))
        return 0
    configs: list[Config] = args.config or [parse_config(c) for c in DEFAULT_CONFIGS]
    if len({c.label for c in configs}) != len(configs):
        parser.error("--config labels must differ")
    cases = select_cases(args)
    if not cases:
        parser.error("no case selected")
    if args.resume and not args.json:
        parser.error("--resume needs --json")
    quiet_assistants_deprecation()
    functions = load_functions()

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    scratch = Path(tempfile.mkdtemp(prefix="nbext-tool-eval-"))
    servers: list[Server] = []
    results: list[Judged] = []
    meta: dict[str, Any] = {"machine": machine_lines(), "argv": sys.argv[1:], "configs": {}}
    if args.resume and args.json.exists():
        saved = json.loads(args.json.read_text())
        results = [(r, r.pop("verdict")) for r in saved["runs"]]
        meta = saved["meta"]
        meta.setdefault("resumed", []).append({"machine": machine_lines(), "argv": sys.argv[1:]})
        say(f"resuming: {len(results)} runs already in {args.json}")
    finished = {(r["case"], r["config"], r["temperature"]) for r, _ in results}
    started = time.perf_counter()
    try:
        for config in configs:
            tree, described = export_source(config.source, scratch)
            server = Server(config, tree, described)
            servers.append(server)
            say(f"starting {config.label}: {described} ...")
            server.start()
            meta["configs"][config.label] = meta["configs"].get(config.label, {}) | {
                "source": described,
                "env": config.env,
                "status": server.status,
                "file_ids": server.file_ids,
            }
        header = [*meta["machine"]]
        for label, facts in meta["configs"].items():
            status = facts["status"]
            env = " ".join(f"{k}={v}" for k, v in facts["env"].items())
            header.append(
                f"config    {label}: {facts['source']}{' ' + env if env else ''}; "
                f"{status.get('backend')}, threads {status.get('threads', '?')}"
            )
        per_category = ", ".join(
            f"{c} {sum(1 for x in cases if x['category'] == c)}" for c in CATEGORIES
        )
        header.append(
            f"cases     {len(cases)} ({per_category}); "
            f"temperatures {', '.join(temperature_label(t) for t in args.temperatures)}; "
            f"tool_choice unset (auto)"
        )
        print("\n".join(header), flush=True)
        variants = [(s, t) for s in servers for t in args.temperatures]
        total = sum(
            1
            for case in cases
            for s, t in variants
            if (case["id"], s.config.label, t) not in finished
        )
        done = 0
        for i, case in enumerate(cases):
            for server, temperature in rotated(variants, i):
                if (case["id"], server.config.label, temperature) in finished:
                    continue
                record = attempt(server, case, temperature, functions, args.timeout, say)
                record["tools"] = case["tools"]
                record["tempting"] = bool(case.get("tempting"))
                verdict = judge(record, case, functions, server.file_ids)
                results.append((record, verdict))
                done += 1
                elapsed = time.perf_counter() - started
                eta = elapsed / done * (total - done)
                say(
                    f"[{i + 1}/{len(cases)} {case['id']}] {server.config.label} "
                    f"T={temperature_label(temperature)}: {progress_note(case, record, verdict)}"
                    f"  ({done}/{total} runs, ETA {eta / 60:.0f} min)"
                )
            save(args.json, meta, results)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print()
    print(report(results))
    print()
    print(
        f"n = runs per row. Proportions: estimate [95% Wilson interval] (k/n); F1: bootstrap "
        f"interval over cases. Load avg at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"eval took {(time.perf_counter() - started) / 60:.1f} min."
    )
    return 0


def attempt(
    server: Server,
    case: dict[str, Any],
    temperature: float | None,
    functions: dict[str, dict[str, Any]],
    timeout_s: float,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """:func:`run_case`, but a broken run (a server that died) is a failed record, not the end."""
    try:
        return run_case(server, case, temperature, functions, timeout_s)
    except (openai.APIError, urllib.error.URLError, OSError) as exc:
        say(f"{server.config.label}: {case['id']} broke: {type(exc).__name__}: {exc}")
        if not server.alive():
            say(f"{server.config.label}: the server died; its log ends with:\n{server.log_tail()}")
            server.stop()
            server.start()
        return {
            "case": case["id"],
            "category": case["category"],
            "config": server.config.label,
            "temperature": temperature,
            "status": f"error: {type(exc).__name__}",
            "timed_out": False,
            "last_error": {"message": str(exc)[:500]},
            "incomplete": None,
            "wall_s": 0.0,
            "usage": None,
            "function_calls": [],
            "submits": 0,
            "steps": [],
            "executions": [],
            "searches": [],
            "messages": [],
            "files": {},
            "model_calls": None,
            "responses": [],
        }


if __name__ == "__main__":
    sys.exit(main())
