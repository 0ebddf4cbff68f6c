"""Retrieval quality of file_search: keyword vs semantic vs hybrid, on a labelled set.

The set (``benchmarks/data/retrieval/``) is three documents written for this
purpose (an employee handbook, a product FAQ, a Python library's docs) and
41 questions, each labelled with a short passage of one document that answers
it. A chunk is relevant when it contains that passage. Some questions share
words with the answer (an error code, an API name) and some are paraphrases,
so keyword and semantic search each win some.

    .venv/bin/python benchmarks/retrieval_eval.py            # the table
    .venv/bin/python benchmarks/retrieval_eval.py --chunk 200 --overlap 100

Prints recall@1, recall@5 and MRR@20 per ranking, for each chunk size.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nbext.tools.file_search import StaticChunking, VectorIndex, chunk_text, get_encoder

DATA = Path(__file__).parent / "data" / "retrieval"

RANKINGS: list[tuple[str, str, str, float]] = [
    # (label, mode, fusion, alpha)
    ("keyword (BM25)", "keyword", "weighted", 0.0),
    ("semantic (MiniLM)", "semantic", "weighted", 1.0),
    ("hybrid weighted a=0.3", "hybrid", "weighted", 0.3),
    ("hybrid weighted a=0.5", "hybrid", "weighted", 0.5),
    ("hybrid weighted a=0.7", "hybrid", "weighted", 0.7),
    ("hybrid RRF k=60", "hybrid", "rrf", 0.5),
]


def build(chunking: StaticChunking, windows: bool = True) -> VectorIndex:
    """Index the three documents; ``windows=False`` embeds only each chunk's first 256 tokens."""
    index = VectorIndex()
    encoder = get_encoder()
    for path in sorted(DATA.glob("*.md")):
        texts = [c.text for c in chunk_text(path.read_text(), chunking)]
        vectors = encoder.encode_passages(texts) if windows else encoder.encode(texts)
        index.add_chunks(path.name, path.name, texts, vectors)
    return index


def evaluate(index: VectorIndex, queries: list[dict], mode: str) -> dict[str, float]:
    """recall@1, recall@5 and MRR@20 of ``index`` (with its current fusion) over ``queries``."""
    records = index.to_records()
    ranks = []
    for q in queries:
        scores = index.scores(q["query"], mode)  # type: ignore[arg-type]
        order = np.argsort(-scores, kind="stable")[:20]
        rank = next(
            (
                r + 1
                for r, i in enumerate(order)
                if records[i].file_id == q["file"] and q["answer"] in records[i].text
            ),
            None,
        )
        ranks.append(rank)
    n = len(ranks)
    return {
        "recall@1": sum(1 for r in ranks if r == 1) / n,
        "recall@5": sum(1 for r in ranks if r and r <= 5) / n,
        "mrr@20": sum(1 / r for r in ranks if r) / n,
    }


def table(index: VectorIndex, queries: list[dict]) -> list[str]:
    lines = ["| ranking | recall@1 | recall@5 | MRR@20 |", "|---|---:|---:|---:|"]
    for label, mode, fusion, alpha in RANKINGS:
        index.fusion, index.alpha = fusion, alpha  # type: ignore[assignment]
        m = evaluate(index, queries, mode)
        lines.append(f"| {label} | {m['recall@1']:.2f} | {m['recall@5']:.2f} | {m['mrr@20']:.2f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, nargs="*", default=[100, 200, 800])
    parser.add_argument(
        "--truncate",
        action="store_true",
        help="also score chunks embedded from their first 256 tokens only",
    )
    args = parser.parse_args()
    queries = json.loads((DATA / "queries.json").read_text())
    for size in args.chunk:
        chunking = StaticChunking(size, size // 2)
        variants = [("windowed embeddings", True)] + (
            [("truncated", False)] if args.truncate else []
        )
        for name, windows in variants:
            start = time.perf_counter()
            index = build(chunking, windows)
            print(
                f"\n### chunks of {size} tokens, overlap {size // 2}: {len(index)} chunks, "
                f"{len(queries)} queries ({name}; indexed in "
                f"{time.perf_counter() - start:.1f} s)\n"
            )
            print("\n".join(table(index, queries)))


if __name__ == "__main__":
    main()
