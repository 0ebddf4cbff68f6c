"""file_search: from an uploaded file to ranked chunks, with no network and no GPU.

The pipeline, one module per step:
``parsers`` (bytes -> text) -> ``chunking`` (text -> token windows) ->
``embeddings`` (chunks -> MiniLM vectors, numpy only) -> ``index`` (vectors +
BM25 -> hybrid search), with ``ranking`` holding the score fusion. The
vector-store routes and the Assistants runtime import from here.
"""

from __future__ import annotations

from nbext.tools.file_search.chunking import (
    Chunk,
    StaticChunking,
    chunk_text,
    parse_chunking_strategy,
)
from nbext.tools.file_search.embeddings import (
    DIMENSIONS,
    MiniLMEncoder,
    embed,
    embed_passages,
    get_encoder,
)
from nbext.tools.file_search.index import (
    DEFAULT_MAX_NUM_RESULTS,
    MAX_NUM_RESULTS,
    ChunkRecord,
    Mode,
    SearchResult,
    VectorIndex,
    merge_results,
    validate_search_options,
)
from nbext.tools.file_search.model import count_tokens, model_dir
from nbext.tools.file_search.parsers import SUPPORTED_EXTENSIONS, is_supported, parse_file

__all__ = [
    "DEFAULT_MAX_NUM_RESULTS",
    "DIMENSIONS",
    "MAX_NUM_RESULTS",
    "SUPPORTED_EXTENSIONS",
    "Chunk",
    "ChunkRecord",
    "MiniLMEncoder",
    "Mode",
    "SearchResult",
    "StaticChunking",
    "VectorIndex",
    "chunk_text",
    "count_tokens",
    "embed",
    "embed_passages",
    "get_encoder",
    "is_supported",
    "merge_results",
    "model_dir",
    "parse_chunking_strategy",
    "parse_file",
    "validate_search_options",
]
