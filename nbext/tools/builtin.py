"""The two server-side tools plugged into a registry: code_interpreter and file_search.

Only wiring: each tool's executor and annotator live in its own package
(:mod:`nbext.tools.code_interpreter.executor`, ``...annotator``, and the
same for :mod:`nbext.tools.file_search`); files reach tools through
:mod:`nbext.tools.resources`. The annotators run in this order on the final
message of a run: citations first, then code outputs.
"""

from __future__ import annotations

from pathlib import Path

from nbext.store import Store
from nbext.tools.code_interpreter.annotator import OutputLinks, RunOutputs
from nbext.tools.code_interpreter.executor import DEFINITION, CodeInterpreterExecutor
from nbext.tools.code_interpreter.sandbox import Limits
from nbext.tools.file_search.annotator import Citations
from nbext.tools.file_search.executor import FileSearchExecutor
from nbext.tools.registry import ToolRegistry
from nbext.tools.resources import FileAccess, ToolResources, VectorStoreAccess


class BuiltinTools:
    """code_interpreter + file_search over the files and vector stores of one server."""

    def __init__(
        self,
        store: Store,
        files: FileAccess,
        vector_stores: VectorStoreAccess,
        sandboxes: Path,
        *,
        limits: Limits | None = None,
        idle_timeout: float | None = 600.0,
    ) -> None:
        outputs = RunOutputs()
        self.code_interpreter = CodeInterpreterExecutor(
            store, files, sandboxes, outputs, limits=limits, idle_timeout=idle_timeout
        )
        self.file_search = FileSearchExecutor(store, vector_stores)
        self.citations = Citations(store)
        self.output_links = OutputLinks(outputs)
        self.resources = ToolResources(
            store, files, vector_stores, on_thread_deleted=self.code_interpreter.forget_thread
        )

    def register(self, registry: ToolRegistry) -> ToolRegistry:
        registry.register("code_interpreter", self.code_interpreter.execute, DEFINITION)
        registry.register("file_search", self.file_search.execute)
        registry.annotators.extend([self.citations.cite, self.output_links.link])
        registry.hooks = self.resources
        return registry

    def shutdown(self) -> None:
        self.code_interpreter.shutdown()
