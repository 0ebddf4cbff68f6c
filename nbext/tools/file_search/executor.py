"""file_search as a tool of a run: search the run's vector stores, record what was found.

Searches the assistant's and the thread's vector stores (hybrid keyword +
MiniLM search, merged by score), waiting for files still being ingested.
The step records ``ranking_options`` and ``results`` (passages only with
``include=[...content]``, as on OpenAI: the passages are kept apart, as
:class:`~nbext.store.records.FileSearchContents`). The model is shown each
passage under a marker ``【n:m†filename】`` (call ``n`` of the run, result
``m``), which :mod:`~nbext.tools.file_search.annotator` turns into citations.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from openai.types.beta.threads.runs import FileSearchToolCall

from nbext.store import FILE_SEARCH_CONTENTS, Store
from nbext.store.records import FileSearchContents
from nbext.tools.file_search.index import DEFAULT_MAX_NUM_RESULTS
from nbext.tools.question import question_footer
from nbext.tools.registry import ToolContext, ToolResult
from nbext.tools.resources import VectorStoreAccess


class FileSearchExecutor:
    """The executor: ``execute(call_id, arguments, context) -> ToolResult``."""

    def __init__(self, store: Store, vector_stores: VectorStoreAccess) -> None:
        self.store = store
        self.vector_stores = vector_stores

    def execute(self, call_id: str, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
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
        return ToolResult(f"{found}\n\n{question_footer(self.store, context)}", call)


def _vector_store_ids(holders: Iterable[Any]) -> list[str]:
    ids: list[str] = []
    for holder in holders:
        resources = getattr(holder, "tool_resources", None)
        search = getattr(resources, "file_search", None) if resources else None
        ids.extend(getattr(search, "vector_store_ids", None) or [])
    return list(dict.fromkeys(ids))
