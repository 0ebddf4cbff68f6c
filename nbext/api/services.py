"""The Assistants API v2 as plain Python: every operation of the HTTP API, minus HTTP.

:class:`AssistantsService` holds one run engine over one store and one
backend, and a service per resource, named as the ``openai`` SDK names them
(``service.assistants.create``, ``service.runs.submit_tool_outputs``,
``service.steps.list``). Each method takes the caller's identity (``owner``:
whoever the API key belongs to; nobody sees another owner's objects) and
returns the SDK object the HTTP API returns, or raises
:class:`nbext.errors.APIError` with OpenAI's status, wording and ``param``.
A route is therefore one line: parse, call, serialize.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nbext.api.assistants.service import Assistants
from nbext.api.files.service import DEFAULT_MAX_FILE_BYTES, Files
from nbext.api.messages.service import Messages
from nbext.api.runs.service import Runs, Steps
from nbext.api.threads.service import Threads
from nbext.api.vector_stores.file_batches import FileBatches
from nbext.api.vector_stores.service import VectorStores
from nbext.api.vector_stores.store_files import VectorStoreFiles
from nbext.backends.base import ChatBackend
from nbext.engine import lifecycle
from nbext.engine.context_window import TokenCounter
from nbext.engine.lifecycle import Runtime
from nbext.engine.queue import RunQueue
from nbext.store import MESSAGES, Store
from nbext.tools.builtin import BuiltinTools
from nbext.tools.code_interpreter.sandbox import Limits
from nbext.tools.registry import ToolRegistry


class AssistantsService:
    """Assistants, threads, messages, runs and run steps of every owner, over one store."""

    def __init__(
        self,
        store: Store,
        backend: ChatBackend,
        *,
        tools: ToolRegistry | None = None,
        workers: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rt = Runtime(store, backend, tools or ToolRegistry(), clock)
        self._queue = RunQueue(self.rt, workers)
        lifecycle.recover(self.rt)
        self.assistants = Assistants(self.rt)
        self.threads = Threads(self.rt)
        self.messages = Messages(self.rt)
        self.runs = Runs(self.rt, self._queue, self.threads)
        self.steps = Steps(self.rt, self.runs)

    def use_backend(self, backend: ChatBackend) -> None:
        """Serve later runs with ``backend``, and drop what the old one measured.

        The token counter and every message's cached ``token_count`` belong to
        the tokenizer that counted them; a new backend counts afresh.
        """
        with self.rt.lock:
            self.rt.backend = backend
            self.rt.tokens = TokenCounter(backend)
            self.rt.store.set_columns_everywhere(MESSAGES, token_count=None)

    def close(self) -> None:
        """Stop taking runs and wait for the running ones to reach a pause or an end."""
        self._queue.close()


@dataclass
class Services:
    """Every service of one server, over one store, wired to the built-in tools."""

    assistants: AssistantsService
    files: Files
    vector_stores: VectorStores
    vector_store_files: VectorStoreFiles
    file_batches: FileBatches
    tools: BuiltinTools

    def close(self) -> None:
        self.assistants.close()
        self.tools.shutdown()
        self.vector_stores.close()


def build_services(
    store: Store,
    backend: ChatBackend,
    data_dir: Path,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    code_limits: Limits | None = None,
) -> Services:
    """Files under ``data_dir/files``, code_interpreter sandboxes under ``data_dir/sandboxes``."""
    files = Files(store, data_dir / "files", max_bytes=max_file_bytes)
    vector_stores = VectorStores(store, files)
    tools = BuiltinTools(store, files, vector_stores, data_dir / "sandboxes", limits=code_limits)
    assistants = AssistantsService(store, backend, tools=tools.register(ToolRegistry()))
    return Services(
        assistants=assistants,
        files=files,
        vector_stores=vector_stores,
        vector_store_files=VectorStoreFiles(vector_stores),
        file_batches=FileBatches(vector_stores),
        tools=tools,
    )
