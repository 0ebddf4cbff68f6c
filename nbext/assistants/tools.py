"""Server-side tools: what the model is told about them and who executes them.

Function tools are executed by the *client* (the run pauses in
``requires_action``). ``code_interpreter`` and ``file_search`` are executed
by the *server*, in the middle of a run, without pausing: that difference is
the heart of the Assistants API's tool loop. The runtime does not know how to
run code or search files; ``nbext.tools`` registers executors here, and until
it does, a run whose model calls such a tool fails with a clear error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openai.types.beta import Assistant, AssistantTool, Thread
from openai.types.beta.threads.runs import ToolCall
from openai.types.chat import ChatCompletionFunctionToolParam


@dataclass(frozen=True)
class ToolContext:
    """What an executor may need besides the call's arguments."""

    owner: str
    thread: Thread
    assistant: Assistant | None
    run_id: str
    tool: AssistantTool  # the tool as configured on the run (e.g. file_search.max_num_results)


@dataclass(frozen=True)
class ToolResult:
    """``output`` goes back to the model; ``call`` is the run step's record of the call."""

    output: str
    call: ToolCall


ToolExecutor = Callable[[str, dict[str, Any], ToolContext], ToolResult]
"""``(call_id, arguments, context) -> ToolResult``; raise to fail the run with the message."""


def _function(
    name: str, description: str, argument: str, about: str
) -> ChatCompletionFunctionToolParam:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {argument: {"type": "string", "description": about}},
                "required": [argument],
            },
        },
    }


# How the built-in tools are presented to a Chat Completions model: as functions.
BUILTIN_DEFINITIONS: dict[str, ChatCompletionFunctionToolParam] = {
    "code_interpreter": _function(
        "code_interpreter",
        "Run Python code in a sandboxed interpreter and get back what it prints. "
        "Use it for arithmetic, data analysis and anything that needs exact computation.",
        "code",
        "The Python code to run.",
    ),
    "file_search": _function(
        "file_search",
        "Search the files attached to this conversation and get back the most relevant passages.",
        "query",
        "What to look for, in plain words.",
    ),
}


@dataclass
class ToolRegistry:
    """Executors of server-side tools, by tool type (``code_interpreter``, ``file_search``)."""

    executors: dict[str, ToolExecutor] = field(default_factory=dict)
    definitions: dict[str, ChatCompletionFunctionToolParam] = field(
        default_factory=lambda: dict(BUILTIN_DEFINITIONS)
    )

    def register(
        self,
        tool_type: str,
        executor: ToolExecutor,
        definition: ChatCompletionFunctionToolParam | None = None,
    ) -> None:
        """Plug an executor in; ``definition`` replaces how the tool is described to the model."""
        self.executors[tool_type] = executor
        if definition is not None:
            self.definitions[tool_type] = definition

    def executor(self, tool_type: str) -> ToolExecutor:
        try:
            return self.executors[tool_type]
        except KeyError:
            raise LookupError(
                f"The model called the {tool_type} tool, but this server has no {tool_type} "
                f"executor registered (nbext.tools provides it), so the call cannot run."
            ) from None
