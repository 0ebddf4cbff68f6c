"""The request bodies each endpoint accepts, as published in OpenAI's OpenAPI contract.

Limits come from the contract (``tests/reference``): 128 tools on an
assistant but 20 as a per-run override, names up to 256 characters,
instructions up to 256,000, token budgets of at least 256, and so on.
"""

from __future__ import annotations

from nbext.assistants.validation import (
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
)

DETAIL = string(enum=["auto", "low", "high"])
REASONING_EFFORT = nullable(string(enum=["none", "minimal", "low", "medium", "high", "xhigh"]))

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

TOOL_CHOICE = nullable(
    by_type(
        {
            str: string(enum=["none", "auto", "required"]),
            dict: obj(
                {
                    "type": string(enum=["function", "code_interpreter", "file_search"]),
                    "function": obj({"name": string()}, required=("name",)),
                },
                required=("type",),
            ),
        },
        "a string or an object",
    )
)

TRUNCATION_STRATEGY = nullable(
    obj(
        {
            "type": string(enum=["auto", "last_messages"]),
            "last_messages": nullable(integer(minimum=1)),
        },
        required=("type",),
    )
)

CONTENT_PART = tagged(
    {
        "text": obj({"type": string(), "text": string()}, required=("text",)),
        "image_url": obj(
            {
                "type": string(),
                "image_url": obj({"url": string(), "detail": DETAIL}, required=("url",)),
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

ASSISTANT_FIELDS: dict[str, Check] = {
    "model": string(),
    "name": nullable(string(max_length=256)),
    "description": nullable(string(max_length=512)),
    "instructions": nullable(string(max_length=256_000)),
    "reasoning_effort": REASONING_EFFORT,
    "tools": array(TOOL, max_items=128),
    "tool_resources": tool_resources(creating=True),
    "metadata": metadata(),
    "temperature": nullable(number(minimum=0, maximum=2)),
    "top_p": nullable(number(minimum=0, maximum=1)),
    "response_format": RESPONSE_FORMAT,
}
ASSISTANT_CREATE = obj(ASSISTANT_FIELDS, required=("model",))
ASSISTANT_MODIFY = obj({**ASSISTANT_FIELDS, "tool_resources": tool_resources(creating=False)})

THREAD_CREATE = obj(
    {
        "messages": array(MESSAGE_CREATE),
        "tool_resources": tool_resources(creating=True),
        "metadata": metadata(),
    }
)
THREAD_MODIFY = obj({"tool_resources": tool_resources(creating=False), "metadata": metadata()})
METADATA_ONLY = obj({"metadata": metadata()})

RUN_FIELDS: dict[str, Check] = {
    "assistant_id": string(),
    "model": nullable(string()),
    "reasoning_effort": REASONING_EFFORT,
    "instructions": nullable(string(max_length=256_000)),
    "tools": nullable(array(TOOL, max_items=20)),
    "metadata": metadata(),
    "temperature": nullable(number(minimum=0, maximum=2)),
    "top_p": nullable(number(minimum=0, maximum=1)),
    "stream": nullable(boolean()),
    "max_prompt_tokens": nullable(integer(minimum=256)),
    "max_completion_tokens": nullable(integer(minimum=256)),
    "truncation_strategy": TRUNCATION_STRATEGY,
    "tool_choice": TOOL_CHOICE,
    "parallel_tool_calls": boolean(),
    "response_format": RESPONSE_FORMAT,
}
RUN_CREATE = obj(
    {
        **RUN_FIELDS,
        "additional_instructions": nullable(string(max_length=256_000)),
        "additional_messages": nullable(array(MESSAGE_CREATE)),
    },
    required=("assistant_id",),
)
THREAD_AND_RUN_CREATE = obj(
    {**RUN_FIELDS, "thread": THREAD_CREATE, "tool_resources": tool_resources(creating=False)},
    required=("assistant_id",),
)
SUBMIT_TOOL_OUTPUTS = obj(
    {
        "tool_outputs": array(obj({"tool_call_id": string(), "output": string()})),
        "stream": nullable(boolean()),
    },
    required=("tool_outputs",),
)
