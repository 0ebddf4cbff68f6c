"""What ``POST /v1/embeddings`` accepts (OpenAI's contract, text inputs only)."""

from __future__ import annotations

from nbext.api.validation import array, by_type, integer, obj, string

MAX_INPUTS = 2048

BODY = obj(
    {
        "model": string(),
        "input": by_type(
            {
                str: string(),
                list: array(lambda value, _param: value, min_items=1, max_items=MAX_INPUTS),
            },
            "a string or an array of strings",
        ),
        "encoding_format": string(enum=["float", "base64"]),
        "dimensions": integer(minimum=1),
        "user": string(),
    },
    required=("model", "input"),
)
