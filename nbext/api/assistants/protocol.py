"""What ``/v1/assistants`` accepts, as OpenAI's OpenAPI contract has it (limits included)."""

from __future__ import annotations

from nbext.api.params import REASONING_EFFORT, RESPONSE_FORMAT, TOOL, tool_resources
from nbext.api.validation import Check, array, metadata, nullable, number, obj, string

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
