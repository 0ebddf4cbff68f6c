"""The parts of request bodies that several Assistants endpoints share (tools, messages...).

Limits come from the contract (``tests/reference``): 128 tools on an
assistant but 20 as a per-run override, names up to 256 characters,
instructions up to 256,000, token budgets of at least 256, and so on.
"""

from __future__ import annotations

from nbext.api.validation import (
    Check,
    any_object,
    array,
    boolean,
    by_type,
    integer,
    metadata,
    nullable,
    number,
    obj,
    string,
    tagged,
    unsupported,
)

DETAIL = string(enum=["auto", "low", "high"])
REASONING_EFFORT = unsupported(
    nullable(string(enum=["none", "minimal", "low", "medium", "high", "xhigh"])),
    "the Assistant and Run objects do not carry it, so no run could pass it on "
    "(and the embedded model is not a reasoning model)",
)

FUNCTION = obj(
    {
        "name": string(max_length=64),
        "description": string(),
        "parameters": any_object(),
        "strict": nullable(boolean()),
    },
    required=("name",),
)

TOOL = tagged(
    {
        "code_interpreter": obj({"type": string()}),
        "file_search": obj(
            {
                "type": string(),
                "file_search": obj(
                    {
                        "max_num_results": integer(minimum=1, maximum=50),
                        "ranking_options": obj(
                            {
                                "ranker": string(enum=["auto", "default_2024_08_21"]),
                                "score_threshold": number(minimum=0, maximum=1),
                            },
                            required=("score_threshold",),
                        ),
                    }
                ),
            }
        ),
        "function": obj({"type": string(), "function": FUNCTION}, required=("function",)),
    }
)


def tool_resources(*, creating: bool) -> Check:
    """Files for code_interpreter, vector stores for file_search."""
    file_search: dict[str, Check] = {"vector_store_ids": array(string(), max_items=1)}
    if creating:
        # A helper that creates a vector store from files, as OpenAI's did.
        file_search["vector_stores"] = array(
            obj(
                {
                    "file_ids": array(string(), max_items=10_000),
                    "chunking_strategy": any_object(),
                    "metadata": metadata(),
                }
            ),
            max_items=1,
        )
    return nullable(
        obj(
            {
                "code_interpreter": obj({"file_ids": array(string(), max_items=20)}),
                "file_search": obj(file_search),
            }
        )
    )


RESPONSE_FORMAT = nullable(
    by_type(
        {
            str: string(enum=["auto"]),
            dict: tagged(
                {
                    "text": obj({"type": string()}),
                    "json_object": obj({"type": string()}),
                    "json_schema": obj(
                        {
                            "type": string(),
                            "json_schema": obj(
                                {
                                    "name": string(max_length=64),
                                    "description": string(),
                                    "schema": any_object(),
                                    "strict": nullable(boolean()),
                                },
                                required=("name",),
                            ),
                        },
                        required=("json_schema",),
                    ),
                }
            ),
        },
        "a string or an object",
    )
)

CONTENT_PART = tagged(
    {
        "text": obj({"type": string(), "text": string()}, required=("text",)),
        "image_url": obj(
            {
                "type": string(),
                "image_url": obj({"url": string(url=True), "detail": DETAIL}, required=("url",)),
            },
            required=("image_url",),
        ),
        "image_file": obj(
            {
                "type": string(),
                "image_file": obj({"file_id": string(), "detail": DETAIL}, required=("file_id",)),
            },
            required=("image_file",),
        ),
    }
)

MESSAGE_CREATE = obj(
    {
        "role": string(enum=["user", "assistant"]),
        "content": by_type(
            {str: string(), list: array(CONTENT_PART, min_items=1)}, "a string or an array"
        ),
        "attachments": nullable(
            array(
                obj(
                    {
                        "file_id": string(),
                        "tools": array(
                            tagged(
                                {
                                    "code_interpreter": obj({"type": string()}),
                                    "file_search": obj({"type": string()}),
                                }
                            )
                        ),
                    },
                    required=("file_id", "tools"),
                )
            )
        ),
        "metadata": metadata(),
    },
    required=("role", "content"),
)

METADATA_ONLY = obj({"metadata": metadata()})
