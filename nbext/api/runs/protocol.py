"""What the run endpoints accept, as OpenAI's OpenAPI contract has it (limits included)."""

from __future__ import annotations

from nbext.api.params import MESSAGE_CREATE, REASONING_EFFORT, RESPONSE_FORMAT, TOOL, tool_resources
from nbext.api.threads.protocol import THREAD_CREATE
from nbext.api.validation import (
    Check,
    array,
    boolean,
    by_type,
    integer,
    metadata,
    nullable,
    number,
    obj,
    string,
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
