"""What ``/v1/threads`` accepts, as OpenAI's OpenAPI contract has it."""

from __future__ import annotations

from nbext.api.params import MESSAGE_CREATE, tool_resources
from nbext.api.validation import array, metadata, obj

THREAD_CREATE = obj(
    {
        "messages": array(MESSAGE_CREATE),
        "tool_resources": tool_resources(creating=True),
        "metadata": metadata(),
    }
)
THREAD_MODIFY = obj({"tool_resources": tool_resources(creating=False), "metadata": metadata()})
