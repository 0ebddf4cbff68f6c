"""Embeddings: file_search's own MiniLM model, served like OpenAI's embeddings.

``client.embeddings.create(model="all-minilm-l6-v2", input=[...])`` returns
384-dimension unit vectors (cosine = dot product), computed locally in numpy.
The SDK asks for ``encoding_format="base64"`` by default (little-endian
float32, which it decodes); ``"float"`` returns plain lists.
"""

from __future__ import annotations

import base64
from typing import Any

from openai.types import CreateEmbeddingResponse, EmbeddingCreateParams

from nbext.errors import APIError, invalid
from nbext.tools.file_search import DIMENSIONS, count_tokens, embed
from nbext.wire import to_wire

MODEL = "all-minilm-l6-v2"
ALIASES = frozenset({MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})


def _texts(value: Any) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise invalid(
                f"Invalid 'input[{i}]': this server embeds text only; token arrays are "
                "tokens of OpenAI's tokenizer, which this model does not use.",
                f"input[{i}]",
            )
        if not text.strip():
            raise invalid(f"Invalid 'input[{i}]': the text is empty.", f"input[{i}]")
    return texts


def create_embeddings(body: EmbeddingCreateParams) -> dict[str, Any]:
    """The response as OpenAI wrote it (vectors as lists, or base64 when asked)."""
    if body["model"] not in ALIASES:
        raise APIError(
            f"The model '{body['model']}' does not exist. This server embeds with '{MODEL}' "
            f"({DIMENSIONS} dimensions).",
            status=404,
            param="model",
            code="model_not_found",
        )
    if body.get("dimensions") not in (None, DIMENSIONS):
        raise invalid(
            f"Invalid 'dimensions': {MODEL} has {DIMENSIONS} dimensions and cannot shorten them.",
            "dimensions",
        )
    texts = _texts(body["input"])
    vectors = embed(texts)
    as_base64 = body.get("encoding_format") == "base64"
    tokens = sum(count_tokens(t) + 2 for t in texts)  # + [CLS] and [SEP]
    data = [
        {"object": "embedding", "index": i, "embedding": [float(x) for x in v]}
        for i, v in enumerate(vectors)
    ]
    response = CreateEmbeddingResponse.model_validate(
        {
            "object": "list",
            "model": MODEL,
            "data": data,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )
    wire = to_wire(response)
    if as_base64:  # the SDK's default: the same floats, as little-endian float32 bytes
        for item, vector in zip(wire["data"], vectors, strict=True):
            item["embedding"] = base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return wire
