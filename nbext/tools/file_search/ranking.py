"""Turn keyword (BM25) and semantic (cosine) scores into one score in [0, 1].

OpenAI's file_search ranks with a hybrid of the two and reports a score in
0..1 that ``ranking_options.score_threshold`` is compared with. Both fusions
measured in ``benchmarks/retrieval_eval.py`` live here as pure functions over
per-chunk score arrays, so the choice is one argument and easy to re-measure.

- ``weighted``: ``alpha * cosine + (1 - alpha) * bm25 / max(bm25)``. Keeps an
  absolute meaning (cosine) in the score, so a threshold filters weak matches.
- ``rrf``: reciprocal-rank fusion, ``sum 1 / (k + rank)``, scaled so a chunk
  ranked first by both gets 1.0. Robust to score scales, but its score says
  only "how high it ranked", so a threshold cuts by rank, not by relevance.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Fusion = Literal["weighted", "rrf"]
DEFAULT_FUSION: Fusion = "weighted"
DEFAULT_ALPHA = 0.7
"""Weight of the semantic score in ``weighted`` (measured; see benchmarks/README.md)."""
RRF_K = 60
"""The constant from Cormack et al. (2009), used by most hybrid search engines."""


def semantic_scores(similarities: np.ndarray) -> np.ndarray:
    """Cosine similarities clipped to [0, 1]: a negative cosine is "unrelated"."""
    return np.clip(similarities, 0.0, 1.0)


def keyword_scores(bm25: np.ndarray) -> np.ndarray:
    """BM25 divided by this query's best BM25, so the best keyword match is 1.0.

    BM25 has no upper bound and its scale depends on the query's length and
    rarity of its words, so only a per-query normalisation makes it comparable
    with a cosine. A query sharing no word with any chunk scores all zeros.
    """
    top = float(bm25.max(initial=0.0))
    return bm25 / top if top > 0 else np.zeros_like(bm25)


def _ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each element, best first (ties broken by position)."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks


def fuse(
    similarities: np.ndarray,
    bm25: np.ndarray,
    fusion: Fusion = DEFAULT_FUSION,
    alpha: float = DEFAULT_ALPHA,
) -> np.ndarray:
    """One hybrid score per chunk, in [0, 1], higher is better."""
    if fusion == "weighted":
        return alpha * semantic_scores(similarities) + (1 - alpha) * keyword_scores(bm25)
    if fusion == "rrf":
        fused = 1.0 / (RRF_K + _ranks(similarities))
        # A chunk with no query word gets no keyword rank at all (not a low one).
        fused += np.where(bm25 > 0, 1.0 / (RRF_K + _ranks(bm25)), 0.0)
        return fused * (RRF_K + 1) / 2
    raise ValueError(f"unknown fusion {fusion!r}")
