"""file_search's mark on the final message: ``file_citation`` annotations.

* every ``【n:m†...】`` / ``【m†...】`` marker the model copied becomes a
  ``file_citation`` of that result's file (an unknown index falls back to
  the file named after the ``†``);
* if the model cited nothing, the results whose passage shares at least two
  significant words with the answer are cited (one per file, at most three):
  a marker is appended to the answer for each and annotated.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from nbext.store import FILE_SEARCH_CONTENTS, Store
from nbext.store.records import FileSearchContents
from nbext.tools.registry import Annotated

MAX_FALLBACK_CITATIONS = 3
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


class Citations:
    """The annotator: ``cite(run_id, message)`` cites the run's file_search results."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def cite(self, run_id: str, message: Annotated) -> Annotated:
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
