"""The searchable index of one vector store: chunks, their vectors, a BM25 index.

``VectorIndex`` is what a vector store *is* for file_search: ``add_file``
parses nothing (see :mod:`.parsers`); it chunks text, embeds the chunks and
keeps them; ``search`` ranks every chunk against a query by keyword (BM25, via
``bm25s``), by meaning (cosine of MiniLM vectors, one numpy matrix product),
or by a hybrid of both (the default, as on OpenAI). A brute-force scan is
exact and, at the sizes a notebook or a team server holds (10,000 chunks
searched in a few ms), simpler and faster than an approximate ANN index.

Persistence is plain data: ``to_records()``/``from_records()`` for the store
layer's database, ``save()``/``load()`` for a directory. The BM25 index is
never stored; it is rebuilt from the chunk texts on first search (~0.2 s for
10,000 chunks), so the stored form cannot go stale against the code.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import bm25s
import numpy as np
import Stemmer

from nbext.errors import invalid
from nbext.tools.file_search.chunking import StaticChunking, chunk_text
from nbext.tools.file_search.embeddings import DIMENSIONS, MiniLMEncoder, get_encoder
from nbext.tools.file_search.ranking import (
    DEFAULT_ALPHA,
    DEFAULT_FUSION,
    Fusion,
    fuse,
    keyword_scores,
    semantic_scores,
)

Mode = Literal["hybrid", "keyword", "semantic"]
DEFAULT_MAX_NUM_RESULTS = 20
"""The search endpoint's default; the file_search *tool* defaults to 20 as well."""
MAX_NUM_RESULTS = 50

_stemmer = Stemmer.Stemmer("english")


def _keyword_tokens(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stemmed words without English stop words: BM25's view of a text.

    Stemming lets "refunds" match "refund"; stop words would otherwise give
    every chunk a small score for "the".
    """
    tokens = bm25s.tokenize(
        list(texts), stopwords="en", stemmer=_stemmer, return_ids=False, show_progress=False
    )
    return [list(t) for t in tokens]


@dataclass(frozen=True)
class SearchResult:
    """One ranked chunk; ``score`` is in [0, 1], higher is more relevant."""

    file_id: str
    filename: str
    chunk_text: str
    score: float
    chunk_index: int

    def to_vector_store_search_response(self) -> Any:
        """The ``POST /v1/vector_stores/{id}/search`` item, as the SDK's own type."""
        from openai.types import VectorStoreSearchResponse

        return VectorStoreSearchResponse(
            file_id=self.file_id,
            filename=self.filename,
            score=self.score,
            content=[{"type": "text", "text": self.chunk_text}],  # type: ignore[list-item]
            attributes={},
        )

    def to_file_search_result(self, include_content: bool = False) -> Any:
        """The run step's ``file_search.results`` item (content only when included)."""
        from openai.types.beta.threads.runs.file_search_tool_call import FileSearchResult

        content = [{"type": "text", "text": self.chunk_text}] if include_content else None
        return FileSearchResult(
            file_id=self.file_id,
            file_name=self.filename,
            score=self.score,
            content=content,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk as plain data, for a database row or a JSON file.

    ``embedding`` is the 384 float32 values as little-endian bytes (1,536 B),
    what a BLOB / bytea column stores without a conversion.
    """

    file_id: str
    filename: str
    chunk_index: int
    text: str
    embedding: bytes

    def vector(self) -> np.ndarray:
        return np.frombuffer(self.embedding, dtype="<f4")


def validate_search_options(max_num_results: int, score_threshold: float) -> None:
    """400 errors worded like OpenAI's for out-of-range search options."""
    if (
        isinstance(max_num_results, bool)
        or not isinstance(max_num_results, int)
        or not (1 <= max_num_results <= MAX_NUM_RESULTS)
    ):
        raise invalid(
            f"'max_num_results' must be an integer between 1 and {MAX_NUM_RESULTS}, "
            f"got {max_num_results!r}.",
            "max_num_results",
        )
    if (
        isinstance(score_threshold, bool)
        or not isinstance(score_threshold, int | float)
        or not (0.0 <= score_threshold <= 1.0)
    ):
        raise invalid(
            f"'ranking_options.score_threshold' must be a number between 0 and 1, "
            f"got {score_threshold!r}.",
            "ranking_options.score_threshold",
        )


class VectorIndex:
    """All chunks of one vector store, searchable by keyword, meaning or both.

    Thread-safe: the server may ingest a file while a run searches.
    """

    def __init__(
        self,
        encoder: MiniLMEncoder | None = None,
        fusion: Fusion = DEFAULT_FUSION,
        alpha: float = DEFAULT_ALPHA,
    ) -> None:
        self._encoder = encoder
        self.fusion: Fusion = fusion
        self.alpha = alpha
        self._lock = threading.RLock()
        self._file_ids: list[str] = []
        self._filenames: list[str] = []
        self._chunk_index: list[int] = []
        self._texts: list[str] = []
        self._tokens: list[list[str]] = []
        self._blocks: list[np.ndarray] = []
        self._matrix = np.zeros((0, DIMENSIONS), dtype=np.float32)
        self._bm25: bm25s.BM25 | None = None

    @property
    def encoder(self) -> MiniLMEncoder:
        if self._encoder is None:
            self._encoder = get_encoder()
        return self._encoder

    def __len__(self) -> int:
        return len(self._texts)

    @property
    def file_ids(self) -> list[str]:
        """Ids of the files indexed, in the order they were added."""
        return list(dict.fromkeys(self._file_ids))

    # -- ingest -------------------------------------------------------------------------

    def add_file(
        self,
        file_id: str,
        filename: str,
        text: str,
        chunking: StaticChunking | None = None,
    ) -> int:
        """Chunk, embed and index a file's text; returns the number of chunks.

        Re-adding a ``file_id`` replaces its chunks. Embedding (the slow part)
        happens outside the lock so searches are not held up by an upload.
        """
        chunks = chunk_text(text, chunking)
        texts = [c.text for c in chunks]
        vectors = self.encoder.encode_passages(texts)
        self.add_chunks(file_id, filename, texts, vectors)
        return len(chunks)

    def add_chunks(
        self, file_id: str, filename: str, texts: Sequence[str], vectors: np.ndarray
    ) -> None:
        """Index already-embedded chunks (numbered 0..n-1), replacing the file's old ones."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), DIMENSIONS)
        tokens = _keyword_tokens(texts) if texts else []
        with self._lock:
            self._remove(file_id)
            self._file_ids.extend([file_id] * len(texts))
            self._filenames.extend([filename] * len(texts))
            self._chunk_index.extend(range(len(texts)))
            self._texts.extend(texts)
            self._tokens.extend(tokens)
            self._blocks.append(vectors)
            self._bm25 = None

    def remove_file(self, file_id: str) -> int:
        """Drop a file's chunks; returns how many there were."""
        with self._lock:
            return self._remove(file_id)

    def _remove(self, file_id: str) -> int:
        keep = [i for i, f in enumerate(self._file_ids) if f != file_id]
        removed = len(self._file_ids) - len(keep)
        if removed:
            matrix = self._embeddings()[keep]
            for name in ("_file_ids", "_filenames", "_chunk_index", "_texts", "_tokens"):
                values = getattr(self, name)
                setattr(self, name, [values[i] for i in keep])
            self._matrix = matrix
            self._bm25 = None
        return removed

    def _embeddings(self) -> np.ndarray:
        """The (n, 384) matrix, concatenating blocks appended since the last call."""
        if self._blocks:
            self._matrix = np.concatenate([self._matrix, *self._blocks])
            self._blocks = []
        return self._matrix

    def _keyword_index(self) -> bm25s.BM25:
        if self._bm25 is None:
            bm25 = bm25s.BM25()
            bm25.index(self._tokens, show_progress=False)
            self._bm25 = bm25
        return self._bm25

    # -- search -------------------------------------------------------------------------

    def scores(self, query: str, mode: Mode = "hybrid") -> np.ndarray:
        """The [0, 1] score of every chunk for ``query`` (the ranking before the cut)."""
        if mode not in ("hybrid", "keyword", "semantic"):
            raise ValueError(f"unknown search mode {mode!r}")
        # Keyword-only search never needs the model (nor its 90 MB load).
        query_vector = self.encoder.encode([query])[0] if mode != "keyword" else None
        query_tokens = _keyword_tokens([query])[0]
        with self._lock:
            if not self._texts:
                return np.zeros(0, dtype=np.float32)
            similarities = self._embeddings() @ query_vector if query_vector is not None else None
            if similarities is not None and mode == "semantic":
                return semantic_scores(similarities)
            bm25_index = self._keyword_index()
            ids = bm25_index.get_tokens_ids(query_tokens)
            bm25 = (
                bm25_index.get_scores_from_ids(ids)
                if ids
                else np.zeros(len(self._texts), dtype=np.float32)
            )
        if similarities is None:
            return keyword_scores(bm25)
        return fuse(similarities, bm25, self.fusion, self.alpha)

    def search(
        self,
        query: str | Sequence[str],
        max_num_results: int = DEFAULT_MAX_NUM_RESULTS,
        score_threshold: float = 0.0,
        mode: Mode = "hybrid",
    ) -> list[SearchResult]:
        """The best chunks for ``query``, best first.

        At most ``max_num_results`` (1..50) results, each scoring at least
        ``score_threshold`` (0..1, OpenAI's ``ranking_options.score_threshold``)
        and above zero. A list of queries (the search endpoint accepts one)
        scores each chunk by its best query.
        """
        validate_search_options(max_num_results, score_threshold)
        queries = [query] if isinstance(query, str) else list(query)
        if not queries or not any(q.strip() for q in queries):
            raise invalid("'query' must be a non-empty string.", "query")
        scores = np.max([self.scores(q, mode) for q in queries], axis=0)
        if scores.size == 0:
            return []
        keep = min(max_num_results, scores.size)
        top = np.argpartition(-scores, keep - 1)[:keep]
        top = top[np.argsort(-scores[top], kind="stable")]
        with self._lock:
            return [
                SearchResult(
                    file_id=self._file_ids[i],
                    filename=self._filenames[i],
                    chunk_text=self._texts[i],
                    score=round(float(scores[i]), 6),
                    chunk_index=self._chunk_index[i],
                )
                for i in top
                if scores[i] > 0 and scores[i] >= score_threshold
            ]

    # -- persistence --------------------------------------------------------------------

    def to_records(self) -> list[ChunkRecord]:
        """Every chunk as plain data, in index order."""
        with self._lock:
            matrix = self._embeddings()
            return [
                ChunkRecord(f, n, c, t, matrix[i].astype("<f4").tobytes())
                for i, (f, n, c, t) in enumerate(
                    zip(
                        self._file_ids, self._filenames, self._chunk_index, self._texts, strict=True
                    )
                )
            ]

    @classmethod
    def from_records(
        cls, records: Iterable[ChunkRecord], encoder: MiniLMEncoder | None = None
    ) -> VectorIndex:
        """Rebuild an index from :meth:`to_records` output; nothing is re-embedded."""
        index = cls(encoder)
        by_file: dict[str, list[ChunkRecord]] = {}
        for record in records:
            by_file.setdefault(record.file_id, []).append(record)
        for file_id, rows in by_file.items():
            rows.sort(key=lambda r: r.chunk_index)
            vectors = np.stack([r.vector() for r in rows]) if rows else None
            index.add_chunks(file_id, rows[0].filename, [r.text for r in rows], vectors)
        return index

    def save(self, directory: Path) -> None:
        """Write ``chunks.json`` (ids, names, texts) and ``embeddings.npy`` to ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            meta = [
                {"file_id": f, "filename": n, "chunk_index": c, "text": t}
                for f, n, c, t in zip(
                    self._file_ids, self._filenames, self._chunk_index, self._texts, strict=True
                )
            ]
            np.save(directory / "embeddings.npy", self._embeddings())
        (directory / "chunks.json").write_text(json.dumps(meta, ensure_ascii=False))

    @classmethod
    def load(cls, directory: Path, encoder: MiniLMEncoder | None = None) -> VectorIndex:
        """Read what :meth:`save` wrote."""
        meta = json.loads((directory / "chunks.json").read_text())
        matrix = np.load(directory / "embeddings.npy")
        return cls.from_records(
            (
                ChunkRecord(
                    m["file_id"],
                    m["filename"],
                    m["chunk_index"],
                    m["text"],
                    matrix[i].astype("<f4").tobytes(),
                )
                for i, m in enumerate(meta)
            ),
            encoder,
        )


def merge_results(
    result_lists: Iterable[list[SearchResult]], max_num_results: int = DEFAULT_MAX_NUM_RESULTS
) -> list[SearchResult]:
    """Combine searches of several vector stores (an assistant's and a thread's)."""
    merged = [r for results in result_lists for r in results]
    merged.sort(key=lambda r: -r.score)
    return merged[:max_num_results]
