"""The two server-side tools, plugged into the runtime: code_interpreter and file_search.

:class:`BuiltinTools` registers an executor for each (see
:class:`~nbext.assistants.tools.ToolRegistry`), two annotators for the
assistant's final message, and the hooks that wire files to tools:

* ``tool_resources`` on assistants and threads are checked (an unknown file
  or vector store id is a 404) and ``file_search.vector_stores`` helpers
  become new vector stores, as on OpenAI.
* A message's ``attachments`` go where OpenAI sent them: ``file_search``
  ones into the thread's vector store (created on first need, expiring 7
  days after last use), ``code_interpreter`` ones into the thread's
  ``tool_resources.code_interpreter.file_ids``.

**code_interpreter.** One sandboxed kernel per thread under
``<data dir>/sandboxes``; the assistant's and the thread's code_interpreter
files are copied into it (under their upload names) before the code runs.
The run step records ``input`` and ``outputs``: ``logs`` (stdout, stderr,
the traceback or the limit that stopped the code) and one ``image`` per
figure, stored as a file with purpose ``assistants_output``. Files the code
writes become ``assistants_output`` files too. When a limit stops the code
(wall-clock time-out, memory cap, process cap), the step is marked
``failed`` and the run fails with the limit's message; the kernel restarts,
so the thread stays usable for the next run.

**file_search.** Searches the assistant's and the thread's vector stores
(hybrid keyword + MiniLM search, merged by score), waiting for files still
being ingested. The step records ``ranking_options`` and ``results``
(passages only with ``include=[...content]``, as on OpenAI). The model is
shown each passage under a marker ``【n:m†filename】`` (call ``n`` of the
run, result ``m``).

**Annotations (the rule).** When the final message is written:

* every ``【n:m†...】`` / ``【m†...】`` marker the model copied becomes a
  ``file_citation`` of that result's file (an unknown index falls back to
  the file named after the ``†``);
* if the model cited nothing, the results whose passage shares at least two
  significant words with the answer are cited (one per file, at most three):
  a marker is appended to the answer for each and annotated;
* each file the code wrote gets a ``file_path`` annotation on
  ``sandbox:/mnt/data/<name>`` (or ``/mnt/data/<name>``) where the answer
  mentions it, else on such a link appended to the answer; figures become
  ``image_file`` blocks after the text.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from openai.types.beta import Thread
from openai.types.beta.threads import Message
from openai.types.beta.threads.runs import CodeInterpreterToolCall, FileSearchToolCall
from openai.types.chat import ChatCompletionFunctionToolParam

from nbext.assistants.files import FilesService
from nbext.assistants.records import FILE_SEARCH_CONTENTS, FileSearchContents
from nbext.assistants.tools import (
    Annotated,
    ToolContext,
    ToolHooks,
    ToolRegistry,
    ToolResult,
)
from nbext.assistants.vector_stores import VectorStoresService
from nbext.errors import invalid
from nbext.store import MESSAGES, THREADS, ListQuery, Store
from nbext.tools.code_interpreter import CodeInterpreter, ExecutionResult, Limits
from nbext.tools.file_search import DEFAULT_MAX_NUM_RESULTS

CODE_INTERPRETER: ChatCompletionFunctionToolParam = {
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
THREAD_STORE_DAYS = 7
MAX_FALLBACK_CITATIONS = 3
MOUNT = "/mnt/data"
_MARKER = re.compile(r"【(\d+)(?::(\d+))?†([^】]*)】")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]{3,}|\d+")
_STOP = frozenset(
    re.findall(
        r"\w+",
        "about above after again also been before being below between both could does "
        "doing down during each from further have having here into itself just more most "
        "other over same should some such than that their theirs them then there these "
        "they this those through under until very what when where which while will with "
        "would your yours says said file files handbook document",
    )
)


class BuiltinTools(ToolHooks):
    """code_interpreter + file_search over the files and vector store services."""

    def __init__(
        self,
        store: Store,
        files: FilesService,
        vector_stores: VectorStoresService,
        sandboxes: Path,
        *,
        limits: Limits | None = None,
        idle_timeout: float | None = 600.0,
    ) -> None:
        self.store = store
        self.files = files
        self.vector_stores = vector_stores
        self.sandboxes = Path(sandboxes)
        self.limits = limits
        self.idle_timeout = idle_timeout
        self._interpreter: CodeInterpreter | None = None
        self._lock = threading.Lock()
        self._copied: dict[str, dict[str, str]] = {}  # thread -> file id -> name in the sandbox
        self._images: dict[str, list[str]] = {}  # run -> image file ids not yet in a message
        self._outputs: dict[str, list[tuple[str, str]]] = {}  # run -> (path, file id)

    def register(self, registry: ToolRegistry) -> ToolRegistry:
        registry.register("code_interpreter", self.code_interpreter, CODE_INTERPRETER)
        registry.register("file_search", self.file_search)
        registry.annotators.extend([self.cite_results, self.link_outputs])
        registry.hooks = self
        return registry

    def interpreter(self) -> CodeInterpreter:
        """Started on first use: a server that never runs code never probes the sandbox."""
        with self._lock:
            if self._interpreter is None:
                self.sandboxes.mkdir(parents=True, exist_ok=True)
                self._interpreter = CodeInterpreter(
                    self.sandboxes, limits=self.limits, idle_timeout=self.idle_timeout
                )
            return self._interpreter

    def shutdown(self) -> None:
        with self._lock:
            if self._interpreter is not None:
                self._interpreter.shutdown()

    # -- hooks: files to tools ------------------------------------------------------

    def resolve_tool_resources(self, owner: str, resources: dict[str, Any]) -> dict[str, Any]:
        resolved = dict(resources)
        code = resources.get("code_interpreter")
        if code:
            for file_id in code.get("file_ids") or []:
                self.files.retrieve(owner, file_id)
        search = resources.get("file_search")
        if search:
            ids = list(search.get("vector_store_ids") or [])
            for vector_store_id in ids:
                self.vector_stores.retrieve(owner, vector_store_id)
            for helper in search.get("vector_stores") or []:
                ids.append(self.vector_stores.create(owner, helper).id)
            if len(ids) > 1:
                raise invalid(
                    "Invalid 'tool_resources.file_search': at most one vector store may be "
                    "attached (in 'vector_store_ids' or 'vector_stores').",
                    param="tool_resources.file_search",
                )
            resolved["file_search"] = {"vector_store_ids": ids}
        return resolved

    def check_attachments(self, owner: str, attachments: list[dict[str, Any]]) -> None:
        for attachment in attachments:
            self.files.retrieve(owner, attachment["file_id"])

    def messages_created(self, owner: str, thread_id: str, messages: list[Message]) -> None:
        search: list[str] = []
        code: list[str] = []
        for message in messages:
            for attachment in message.attachments or []:
                kinds = {tool.type for tool in attachment.tools or []}
                if "file_search" in kinds:
                    search.append(attachment.file_id)
                if "code_interpreter" in kinds:
                    code.append(attachment.file_id)
        if not search and not code:
            return
        thread = self.store.get(THREADS, owner, thread_id)
        resources = thread.tool_resources.model_dump(mode="json") if thread.tool_resources else {}
        if search:
            ids = (resources.get("file_search") or {}).get("vector_store_ids") or []
            if not ids:
                created = self.vector_stores.create(
                    owner,
                    {
                        "name": f"Files attached to {thread_id}",
                        "expires_after": {"anchor": "last_active_at", "days": THREAD_STORE_DAYS},
                    },
                )
                ids = [created.id]
                resources["file_search"] = {"vector_store_ids": ids}
            self.vector_stores.add_files(owner, ids[0], search)
        if code:
            current = (resources.get("code_interpreter") or {}).get("file_ids") or []
            resources["code_interpreter"] = {"file_ids": list(dict.fromkeys([*current, *code]))}
        updated = Thread.model_validate(
            {**thread.model_dump(mode="json"), "tool_resources": resources}
        )
        self.store.update(THREADS, updated)

    def thread_deleted(self, owner: str, thread_id: str) -> None:
        self._copied.pop(thread_id, None)
        if self._interpreter is not None and (self.sandboxes / thread_id).exists():
            self._interpreter.remove(thread_id)

    # -- code_interpreter -----------------------------------------------------------

    def code_interpreter(
        self, call_id: str, arguments: dict[str, Any], context: ToolContext
    ) -> ToolResult:
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
        told: list[str] = [f"The code printed:\n{logs}" if logs else "The code printed nothing."]
        for i, png in enumerate(result.images):
            image = self.files.create_output(context.owner, f"{call_id}-image-{i}.png", png)
            outputs.append({"type": "image", "image": {"file_id": image.id}})
            self._images.setdefault(context.run_id, []).append(image.id)
            told.append(f"It drew a figure, which the user can see ({image.id}).")
        for written in result.files:
            name = PurePosixPath(written.path).name
            created = self.files.create_output(context.owner, name, written.data)
            self._outputs.setdefault(context.run_id, []).append((written.path, created.id))
            told.append(f"It wrote the file {MOUNT}/{written.path} ({created.id}).")
        if inputs:
            told.append(f"Input files in {MOUNT}: " + ", ".join(inputs) + ".")
        told.append(self._question_footer(context))
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
            self._images.pop(context.run_id, None)
            self._outputs.pop(context.run_id, None)
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

    # -- file_search ------------------------------------------------------------------

    def file_search(
        self, call_id: str, arguments: dict[str, Any], context: ToolContext
    ) -> ToolResult:
        query = str(arguments.get("query") or arguments.get("raw") or "").strip()
        options = getattr(context.tool, "file_search", None)
        limit = getattr(options, "max_num_results", None) or DEFAULT_MAX_NUM_RESULTS
        ranking = getattr(options, "ranking_options", None)
        threshold = ranking.score_threshold if ranking is not None else 0.0
        ranker = (ranking.ranker if ranking is not None else None) or "default_2024_08_21"
        if ranker == "auto":
            ranker = "default_2024_08_21"
        stores = _vector_store_ids([context.assistant, context.thread])
        results = (
            self.vector_stores.search_stores(context.owner, stores, query, limit, threshold)
            if stores and query
            else []
        )
        number = self.store.count(FILE_SEARCH_CONTENTS, run_id=context.run_id)
        self.store.insert(
            FILE_SEARCH_CONTENTS,
            context.owner,
            FileSearchContents(
                id=call_id,
                run_id=context.run_id,
                created_at=int(time.time()),
                file_ids=[r.file_id for r in results],
                filenames=[r.filename for r in results],
                contents=[r.chunk_text for r in results],
            ),
            run_id=context.run_id,
        )
        call = FileSearchToolCall.model_validate(
            {
                "id": call_id,
                "type": "file_search",
                "file_search": {
                    "ranking_options": {"ranker": ranker, "score_threshold": threshold},
                    "results": [r.to_file_search_result().model_dump(mode="json") for r in results],
                },
            }
        )
        if not stores:
            found = "No files are attached to this assistant or thread: there is nothing to search."
        elif not query:
            found = "The search had no query, so it found nothing."
        elif not results:
            found = f"Nothing in the attached files matches: {query}"
        else:
            found = "Relevant passages from the attached files (cite one by copying its marker):\n"
            found += "\n".join(
                f"- 【{number}:{m}†{r.filename}】 {' '.join(r.chunk_text.split())}"
                for m, r in enumerate(results)
            )
        return ToolResult(f"{found}\n\n{self._question_footer(context)}", call)

    def _question_footer(self, context: ToolContext) -> str:
        """The user's question again, after the tool's result.

        Said at the end of the tool output because that is what a small model
        reads last: without it, a 0.5B model tends to call the tool again
        (as text) rather than answer from the result.
        """
        page = self.store.list(
            MESSAGES, context.owner, ListQuery(limit=20), thread_id=context.thread.id
        )
        for message in page.data:
            if message.role == "user":
                text = " ".join(b.text.value for b in message.content if b.type == "text")
                if text.strip():
                    return f"Question: {text.strip()}\nAnswer in one sentence."
        return "Answer the user in one sentence."

    # -- annotators ---------------------------------------------------------------------

    def cite_results(self, run_id: str, message: Annotated) -> Annotated:
        calls = self.store.all(FILE_SEARCH_CONTENTS, run_id=run_id)
        if not any(c.file_ids for c in calls):
            return message
        text = message.text
        annotations = list(message.annotations)
        for match in _MARKER.finditer(text):
            file_id = _cited(calls, match)
            if file_id is not None:
                annotations.append(_citation(match.group(0), match.start(), file_id))
        if len(annotations) > len(message.annotations):
            return Annotated(text, annotations, message.image_file_ids)
        answer = _words(text)
        cited_files: set[str] = set()
        for n, call in enumerate(calls):
            for m, (file_id, filename, passage) in enumerate(
                zip(call.file_ids, call.filenames, call.contents, strict=True)
            ):
                if file_id in cited_files or len(cited_files) >= MAX_FALLBACK_CITATIONS:
                    continue
                if len(answer & _words(passage)) < 2:
                    continue
                cited_files.add(file_id)
                marker = f"【{n}:{m}†{filename}】"
                text += marker if text.endswith((" ", "\n")) or not text else " " + marker
                annotations.append(_citation(marker, len(text) - len(marker), file_id))
        return Annotated(text, annotations, message.image_file_ids)

    def link_outputs(self, run_id: str, message: Annotated) -> Annotated:
        images = self._images.pop(run_id, [])
        written = self._outputs.pop(run_id, [])
        if not images and not written:
            return message
        text = message.text
        annotations = list(message.annotations)
        for path, file_id in written:
            start = -1
            for shown in (f"sandbox:{MOUNT}/{path}", f"{MOUNT}/{path}"):
                start = text.find(shown)
                if start >= 0:
                    break
            if start < 0:
                shown = f"sandbox:{MOUNT}/{path}"
                name = PurePosixPath(path).name
                text += ("\n\n" if text else "") + f"[{name}]({shown})"
                start = len(text) - len(shown) - 1
            annotations.append(
                {
                    "type": "file_path",
                    "text": shown,
                    "start_index": start,
                    "end_index": start + len(shown),
                    "file_path": {"file_id": file_id},
                }
            )
        return Annotated(text, annotations, [*message.image_file_ids, *images])


def _nothing_to_run() -> ExecutionResult:
    return ExecutionResult("error", error="No code was given: pass the Python code in 'code'.")


def _hit_limit(result: ExecutionResult) -> bool:
    """A limit stopped the code (not merely an exception the code raised)."""
    if result.status in ("timeout", "killed"):
        return True
    return result.status == "error" and (result.error or "").startswith("MemoryError")


def _vector_store_ids(holders: Iterable[Any]) -> list[str]:
    ids: list[str] = []
    for holder in holders:
        resources = getattr(holder, "tool_resources", None)
        search = getattr(resources, "file_search", None) if resources else None
        ids.extend(getattr(search, "vector_store_ids", None) or [])
    return list(dict.fromkeys(ids))


def _cited(calls: list[FileSearchContents], match: re.Match[str]) -> str | None:
    first, second, source = match.group(1), match.group(2), match.group(3).strip()
    n, m = (int(first), int(second)) if second is not None else (len(calls) - 1, int(first))
    if 0 <= n < len(calls) and 0 <= m < len(calls[n].file_ids):
        return calls[n].file_ids[m]
    for call in reversed(calls):  # a wrong number but a right name
        for file_id, filename in zip(call.file_ids, call.filenames, strict=True):
            if source and source in (filename, PurePosixPath(filename).stem):
                return file_id
    return None


def _citation(marker: str, start: int, file_id: str) -> dict[str, Any]:
    return {
        "type": "file_citation",
        "text": marker,
        "start_index": start,
        "end_index": start + len(marker),
        "file_citation": {"file_id": file_id},
    }


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)} - _STOP
