"""The tutorials as a learner opens them: every stored output reads well.

nbval proves the notebooks still run and keep their structure; this test reads
what they show before anything runs (GitHub, nbviewer, a workshop's first
look): no tracebacks, no model answer that is empty, a refusal, or a tool call
written out as text instead of made. The answers are judged by the same rules
as ``benchmarks/tool_eval.py`` (``benchmarks/tool_eval_scoring.py``).
"""

from __future__ import annotations

import html
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from tool_eval_scoring import is_refusal, raw_tool_call  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ANSWER = {"output": "answer"}
_ASSISTANT_IN_PANEL = re.compile(
    r'<div class="nbext-message nbext-role-assistant"[^>]*>.*?'
    r'<div style="white-space:pre-wrap">(.*?)</div></div>',
    re.DOTALL,
)
_PRINTED_ASSISTANT = re.compile(r"^\s*assistant: (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Answer:
    """A model's words as a stored output shows them."""

    where: str
    text: str


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _cells(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    notebook = json.loads(path.read_text())
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            yield index, cell


def answers(path: Path) -> Iterator[Answer]:
    """Every model answer stored in a notebook: ``%%chat``'s, and each assistant
    message of an ``%%assistant`` panel or printed as ``assistant: ...``."""
    for index, cell in _cells(path):
        where = f"{path.name} cell {index}"
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if output.get("metadata", {}).get("nbext") == ANSWER:
                yield Answer(where, _text(data.get("text/plain", "")))
            for message in _ASSISTANT_IN_PANEL.findall(_text(data.get("text/html", ""))):
                yield Answer(f"{where} (panel)", html.unescape(message))
            if output.get("output_type") == "stream":
                for line in _PRINTED_ASSISTANT.findall(_text(output.get("text", ""))):
                    yield Answer(f"{where} (printed)", line)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_stored_traceback(path: Path) -> None:
    for index, cell in _cells(path):
        expected = "raises-exception" in cell.get("metadata", {}).get("tags", [])
        for output in cell.get("outputs", []):
            shown = _text(output.get("text", "")) + _text(
                output.get("data", {}).get("text/plain", "")
            )
            assert output.get("output_type") != "error" or expected, f"cell {index} failed"
            assert "Traceback (most recent call last)" not in shown, f"cell {index}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_code_names_an_embedded_model(path: Path) -> None:
    """The tutorials run on the configured model (``NBEXT_MODEL``, ``nbext model
    --use``): a request naming one model id is a 404 on a server running another."""
    from nbext.backends.models import CATALOGUE

    for index, cell in _cells(path):
        source = _text(cell["source"])
        named = [model for model in CATALOGUE if model in source]
        assert not named, f"cell {index} names {named}: use nbext.client.model_id(client)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_answers_read_well(path: Path) -> None:
    for answer in answers(path):
        assert answer.text.strip(), f"{answer.where}: an empty answer"
        assert not is_refusal(answer.text), f"{answer.where}: a refusal: {answer.text!r}"
        assert not raw_tool_call(answer.text), f"{answer.where}: a tool call as text"


def test_every_kind_of_answer_is_found() -> None:
    """The scan reads each place answers are stored (else it would pass on nothing)."""
    kinds = {a.where.rsplit(" ", 1)[-1] for p in NOTEBOOKS for a in answers(p)}
    assert {"(panel)", "(printed)"} <= kinds
    assert any(not w.endswith(")") for w in kinds), "no %%chat answer found"


# -- the scan on answers it must flag ----------------------------------------------------

BAD = [
    "",
    "   \n",
    "I'm sorry, but I can't assist with that.",
    '{"name": "get_weather", "arguments": {"city": "Paris"}}',
    '<tool_call>\n{"name": "file_search", "arguments": {"query": "dogs"}}\n</tool_call>',
    '```json\n{"code": "print(2**10)"}\n```',
]


@pytest.mark.parametrize("text", BAD)
def test_the_scan_flags_bad_answers(tmp_path: Path, text: str) -> None:
    cell = {
        "cell_type": "code",
        "metadata": {},
        "source": "%%chat\nHi",
        "outputs": [
            {
                "output_type": "display_data",
                "metadata": {"nbext": ANSWER},
                "data": {"text/plain": text, "text/markdown": text},
            }
        ],
    }
    path = tmp_path / "99_bad.ipynb"
    path.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4}))
    with pytest.raises(AssertionError):
        test_stored_answers_read_well(path)
