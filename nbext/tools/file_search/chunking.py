"""Split a document's text into overlapping token windows, as OpenAI does.

A vector store file is chunked with ``chunking_strategy``: ``{"type": "auto"}``
(800-token chunks, 400 tokens of overlap) or ``{"type": "static", "static":
{"max_chunk_size_tokens": 100..4096, "chunk_overlap_tokens": <= half}}``.
Windows are cut on token boundaries and each chunk's text is the slice of the
*original* text between its first and last token, so casing, whitespace and
line breaks survive (a citation quotes the file, not a lower-cased copy).
Tokens are MiniLM WordPiece tokens; see :mod:`nbext.tools.file_search.model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nbext.errors import invalid, unknown_parameter
from nbext.tools.file_search.model import counting_tokenizer

DEFAULT_MAX_CHUNK_SIZE_TOKENS = 800
DEFAULT_CHUNK_OVERLAP_TOKENS = 400
MIN_CHUNK_SIZE_TOKENS = 100
MAX_CHUNK_SIZE_TOKENS = 4096
PARAM = "chunking_strategy"


@dataclass(frozen=True)
class StaticChunking:
    """A validated strategy; ``auto`` resolves to the 800/400 default."""

    max_chunk_size_tokens: int = DEFAULT_MAX_CHUNK_SIZE_TOKENS
    chunk_overlap_tokens: int = DEFAULT_CHUNK_OVERLAP_TOKENS

    def to_wire(self) -> dict[str, Any]:
        """The ``chunking_strategy`` a vector store file reports (always ``static``).

        OpenAI reports ``auto`` back as the static values it resolved to, which
        is what ``openai.types.StaticFileChunkingStrategyObject`` parses.
        """
        return {
            "type": "static",
            "static": {
                "max_chunk_size_tokens": self.max_chunk_size_tokens,
                "chunk_overlap_tokens": self.chunk_overlap_tokens,
            },
        }


@dataclass(frozen=True)
class Chunk:
    """One window of a document: its text and where it sits in the token stream."""

    index: int
    text: str
    start_token: int
    token_count: int
    start_char: int
    end_char: int


def _int_field(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"'{PARAM}.static.{name}' must be an integer, got {value!r}.", PARAM)
    return value


def _refuse_unknown(given: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    # As every body: a name OpenAI's contract does not have is a 400, not ignored.
    for key in given:
        if key not in known:
            raise unknown_parameter(f"{where}.{key}", PARAM)


def parse_chunking_strategy(strategy: Mapping[str, Any] | None) -> StaticChunking:
    """Validate a request's ``chunking_strategy`` (``None`` means ``auto``).

    Raises a 400 :class:`~nbext.errors.APIError` with ``param="chunking_strategy"``
    naming the bound that was broken, because the learner reads it verbatim.
    """
    if strategy is None:
        return StaticChunking()
    if not isinstance(strategy, Mapping):
        raise invalid(f"'{PARAM}' must be an object, got {type(strategy).__name__}.", PARAM)
    kind = strategy.get("type")
    _refuse_unknown(strategy, ("type",) if kind == "auto" else ("type", "static"), PARAM)
    if kind == "auto":
        return StaticChunking()
    if kind != "static":
        raise invalid(
            f"Invalid value for '{PARAM}.type': {kind!r}. Supported values are: 'auto' and "
            "'static'.",
            PARAM,
        )
    static = strategy.get("static")
    if not isinstance(static, Mapping):
        raise invalid(
            f"'{PARAM}.static' is required when type is 'static': an object with "
            "'max_chunk_size_tokens' and 'chunk_overlap_tokens'.",
            PARAM,
        )
    _refuse_unknown(static, ("max_chunk_size_tokens", "chunk_overlap_tokens"), f"{PARAM}.static")
    for name in ("max_chunk_size_tokens", "chunk_overlap_tokens"):
        if name not in static:
            raise invalid(f"Missing required parameter: '{PARAM}.static.{name}'.", PARAM)
    size = _int_field(static["max_chunk_size_tokens"], "max_chunk_size_tokens")
    overlap = _int_field(static["chunk_overlap_tokens"], "chunk_overlap_tokens")
    if not MIN_CHUNK_SIZE_TOKENS <= size <= MAX_CHUNK_SIZE_TOKENS:
        raise invalid(
            f"'{PARAM}.static.max_chunk_size_tokens' must be between {MIN_CHUNK_SIZE_TOKENS} "
            f"and {MAX_CHUNK_SIZE_TOKENS}, got {size}.",
            PARAM,
        )
    if overlap < 0:
        raise invalid(
            f"'{PARAM}.static.chunk_overlap_tokens' must be non-negative, got {overlap}.", PARAM
        )
    if overlap > size // 2:
        raise invalid(
            f"'{PARAM}.static.chunk_overlap_tokens' ({overlap}) must not exceed half of "
            f"'max_chunk_size_tokens' ({size // 2}).",
            PARAM,
        )
    return StaticChunking(size, overlap)


def chunk_text(text: str, strategy: StaticChunking | None = None) -> list[Chunk]:
    """Cut ``text`` into windows of at most ``max_chunk_size_tokens`` tokens.

    Consecutive windows share ``chunk_overlap_tokens`` tokens (the step is
    size - overlap), so a sentence cut by one boundary is whole in a neighbour.
    The last window ends at the text's end; a text of no tokens has no chunks.
    """
    strategy = strategy or StaticChunking()
    offsets = counting_tokenizer().encode(text, add_special_tokens=False).offsets
    total = len(offsets)
    size = strategy.max_chunk_size_tokens
    step = size - strategy.chunk_overlap_tokens
    chunks: list[Chunk] = []
    start = 0
    while start < total:
        end = min(start + size, total)
        first, last = offsets[start][0], offsets[end - 1][1]
        chunks.append(Chunk(len(chunks), text[first:last], start, end - start, first, last))
        if end == total:
            break
        start += step
    return chunks
