"""Turn an uploaded file's bytes into plain text, chosen by its extension.

file_search only ever indexes text, so each supported format has one small
function here, each backed by a maintained library (pypdf, python-docx) or the
standard library (HTML, text). The extension decides, as on OpenAI: a file
named ``notes.xyz`` is refused with a 400 ``unsupported_file`` whose message
lists what is supported, and a file that does not parse as its extension says
is refused with ``invalid_file`` (the codes a vector store file's
``last_error`` carries).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import PurePath

from nbext.errors import APIError


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM); undecodable bytes become U+FFFD rather than fail."""
    return data.decode("utf-8-sig", errors="replace")


class _TextExtractor(HTMLParser):
    """Collects visible text; block elements become line breaks so paragraphs stay apart."""

    BLOCKS = frozenset(
        {"p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header"}
        | {"footer", "pre", "blockquote", "dt", "dd", "title", "h1", "h2", "h3", "h4", "h5", "h6"}
    )
    HIDDEN = frozenset({"script", "style", "noscript", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self._hidden += 1
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _tidy(text: str) -> str:
    """Collapse runs of spaces and of blank lines that markup and PDF layout leave."""
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def parse_text(data: bytes) -> str:
    return _decode(data)


def parse_html(data: bytes) -> str:
    extractor = _TextExtractor()
    extractor.feed(_decode(data))
    extractor.close()
    return _tidy("".join(extractor.parts))


def parse_pdf(data: bytes) -> str:
    """Text of every page, pages separated by a blank line (scanned pages give none)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return _tidy("\n\n".join(page.extract_text() or "" for page in reader.pages))


def parse_docx(data: bytes) -> str:
    """Paragraphs, then each table row as tab-separated cells."""
    import docx

    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append("\t".join(cell.text for cell in row.cells))
    return _tidy("\n".join(parts))


PARSERS: dict[str, Callable[[bytes], str]] = {
    ".txt": parse_text,
    ".md": parse_text,
    ".py": parse_text,
    ".json": parse_text,
    ".html": parse_html,
    ".htm": parse_html,
    ".pdf": parse_pdf,
    ".docx": parse_docx,
}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(sorted(PARSERS))


def is_supported(filename: str) -> bool:
    """Whether :func:`parse_file` accepts this name (cheap check at upload time)."""
    return PurePath(filename).suffix.lower() in PARSERS


def parse_file(filename: str, data: bytes) -> str:
    """Extract the text of ``data``, the content of a file called ``filename``.

    Raises :class:`~nbext.errors.APIError` (400): ``unsupported_file`` for an
    extension outside :data:`SUPPORTED_EXTENSIONS`, ``invalid_file`` when the
    content is not what the extension promises (a truncated PDF, say).
    """
    suffix = PurePath(filename).suffix.lower()
    parser = PARSERS.get(suffix)
    if parser is None:
        shown = suffix or "(none)"
        raise APIError(
            f"Files with extensions [{shown}] are not supported for file search. "
            f"Supported types: {', '.join(SUPPORTED_EXTENSIONS)}.",
            status=400,
            param="file_id",
            code="unsupported_file",
        )
    try:
        return parser(data)
    except Exception as exc:  # each library raises its own types; all mean "bad file"
        raise APIError(
            f"The file '{filename}' could not be parsed as {suffix}: {exc}",
            status=400,
            param="file_id",
            code="invalid_file",
        ) from exc
