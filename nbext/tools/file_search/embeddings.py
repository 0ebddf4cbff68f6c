"""Sentence embeddings with all-MiniLM-L6-v2, computed in plain numpy.

Why numpy and not sentence-transformers: the model is a 6-layer, 384-wide
BERT, small enough that a numpy forward pass is as fast as torch on CPU and
returns the same vectors (max abs diff ~1e-7, see benchmarks/README.md), while
torch and sentence-transformers add ~1 GB to an install that only needs 25 MB
(tokenizers + safetensors). The steps are exactly sentence-transformers'
pipeline for this model: WordPiece tokens (max 256), BERT encoder, mean over
non-padding tokens, L2 normalisation. Vectors are unit-norm, so a dot product
is the cosine similarity.
"""

from __future__ import annotations

import functools
import json
import math
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from nbext.tools.file_search.model import MAX_SEQ_LENGTH, model_dir

DIMENSIONS = 384


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, ``x/2 * (1 + erf(x/sqrt 2))``, computed in place.

    numpy has no erf, so it is Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7,
    below float32 resolution; scipy not needed). In-place operations because
    this is the largest elementwise step of the model (batch x tokens x 1536).
    """
    a = np.abs(x) * np.float32(1.0 / math.sqrt(2.0))
    t = a * np.float32(0.3275911)
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(c)
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a  # poly = 1 - erf(|x|/sqrt 2)
    # 1 + erf(x/sqrt2) = 2 - poly for x >= 0, poly for x < 0
    out = np.where(x >= 0, np.float32(2.0) - poly, poly)
    out *= x
    out *= np.float32(0.5)
    return out


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class MiniLMEncoder:
    """all-MiniLM-L6-v2 as numpy arrays: ``encode(texts) -> (n, 384) float32``.

    One instance holds the 90 MB of weights; use :func:`get_encoder` to share
    it across the process. ``encode`` is thread-safe (it only reads weights).
    """

    def __init__(self, directory: Path | None = None) -> None:
        directory = directory or model_dir()
        config = json.loads((directory / "config.json").read_text())
        self.heads: int = config["num_attention_heads"]
        self.layers: int = config["num_hidden_layers"]
        self.eps: float = config["layer_norm_eps"]
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_SEQ_LENGTH)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._counting = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self._counting.no_truncation()
        self._counting.no_padding()
        w = load_file(str(directory / "model.safetensors"))
        # Linear weights are stored (out, in); transpose once so every call is x @ W.
        self.w = {
            k: (
                v.T.copy()
                if k.endswith("dense.weight")
                or k.endswith(("query.weight", "key.weight", "value.weight"))
                else v
            )
            for k, v in w.items()
        }
        # Fuse Q, K and V into one (384, 1152) matmul per layer: fewer, larger BLAS calls.
        for i in range(self.layers):
            p = f"encoder.layer.{i}.attention.self."
            self.w[p + "qkv.weight"] = np.concatenate(
                [self.w[p + n + ".weight"] for n in ("query", "key", "value")], axis=1
            )
            self.w[p + "qkv.bias"] = np.concatenate(
                [self.w[p + n + ".bias"] for n in ("query", "key", "value")]
            )

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """BERT encoder on one padded batch; returns pooled, normalised vectors."""
        w = self.w
        batch, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )
        hidden = x.shape[-1]
        head_dim = hidden // self.heads
        # Padding keys get a huge negative score, as in transformers' extended mask.
        bias = ((1.0 - mask[:, None, None, :]) * np.finfo(np.float32).min).astype(np.float32)
        scale = np.float32(1.0 / math.sqrt(head_dim))
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            qkv = x @ w[p + "attention.self.qkv.weight"] + w[p + "attention.self.qkv.bias"]
            qkv = qkv.reshape(batch, length, 3, self.heads, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
            attn = (
                context @ w[p + "attention.output.dense.weight"]
                + w[p + "attention.output.dense.bias"]
            )
            x = _layer_norm(
                x + attn,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            inter = _gelu(x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"])
            out = inter @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
            x = _layer_norm(
                x + out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps
            )
        weights = mask[:, :, None]
        pooled = (x * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit-norm embeddings, one row per text, in input order.

        Texts are sorted by length before batching (as sentence-transformers
        does) so each batch pads to a similar length: attention cost is
        quadratic in the padded length, so this matters for mixed inputs.
        """
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda j: -sum(encodings[j].attention_mask))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            length = max(sum(encodings[j].attention_mask) for j in chunk)
            ids = np.array([encodings[j].ids[:length] for j in chunk], dtype=np.int64)
            mask = np.array([encodings[j].attention_mask[:length] for j in chunk], dtype=np.float32)
            out[chunk] = self._forward(ids, mask)
        return out

    def encode_passages(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings of chunks that may be longer than the model's 256 word pieces.

        An 800-token chunk would otherwise be judged by its first 256 tokens
        only. Each text is cut into consecutive windows of at most 254 word
        pieces (+ [CLS]/[SEP]); the window vectors are averaged and
        re-normalised, so every part of the chunk counts. Texts that fit in one
        window get exactly :meth:`encode`'s vector.
        """
        window = MAX_SEQ_LENGTH - 2
        pieces: list[str] = []
        owner: list[int] = []
        for i, encoding in enumerate(
            self._counting.encode_batch(list(texts), add_special_tokens=False)
        ):
            offsets = encoding.offsets
            if len(offsets) <= window:
                pieces.append(texts[i])
                owner.append(i)
                continue
            for start in range(0, len(offsets), window):
                end = min(start + window, len(offsets))
                pieces.append(texts[i][offsets[start][0] : offsets[end - 1][1]])
                owner.append(i)
        vectors = self.encode(pieces, batch_size)
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        np.add.at(out, np.asarray(owner, dtype=np.int64), vectors)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.clip(norms, 1e-12, None)).astype(np.float32)


_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _cached_encoder() -> MiniLMEncoder:
    return MiniLMEncoder()


def get_encoder() -> MiniLMEncoder:
    """The process-wide encoder, loaded on first use (~0.3 s, 90 MB)."""
    with _lock:
        return _cached_encoder()


def embed(texts: Sequence[str]) -> np.ndarray:
    """Embed short texts (queries) with the shared encoder: ``(n, 384)`` float32, unit rows."""
    return get_encoder().encode(texts)


def embed_passages(texts: Sequence[str]) -> np.ndarray:
    """Embed chunks of any length with the shared encoder (see ``encode_passages``)."""
    return get_encoder().encode_passages(texts)
