"""The registry through which the run engine calls tools: executors, annotators, hooks.

Function tools are executed by the *client* (the run pauses in
``requires_action``). ``code_interpreter`` and ``file_search`` are executed
by the *server*, in the middle of a run, without pausing: that difference is
the heart of the Assistants API's tool loop. The engine does not know how to
run code or search files; :mod:`nbext.tools.builtin` registers their
executors and annotators here, and until something does, a run whose model
calls such a tool fails with a clear error. The engine imports this module;
no tool imports the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from openai.types.beta import Assistant, AssistantTool, Thread
from openai.types.beta.threads import Message
from openai.types.beta.threads.runs import ToolCall
from openai.types.chat import ChatCompletionFunctionToolParam

from nbext.errors import invalid


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
    """``output`` goes back to the model; ``call`` is the run step's record of the call.

    ``error`` set means the call hit a limit (a time-out, the memory cap): the
    step is recorded with the call as it ended, then marked ``failed`` with this
    message, and the run fails with it, as a run whose step failed did on OpenAI.
    """

    output: str
    call: ToolCall
    error: str | None = None


@dataclass
class Annotated:
    """The final text of an assistant message, and what tools attach to it.

    ``annotations`` are ``file_citation`` / ``file_path`` dicts with indexes
    into ``text``; ``image_file_ids`` become ``image_file`` content blocks
    after the text (a code_interpreter plot).
    """

    text: str
    annotations: list[dict[str, Any]] = field(default_factory=list)
    image_file_ids: list[str] = field(default_factory=list)


Annotator = Callable[[str, Annotated], Annotated]
"""``(run_id, message so far) -> message``: may append to the text, never rewrite it."""


class ToolHooks:
    """What the runtime tells the tools about, beyond calls (all no-ops by default).

    The tools use it to wire files: a message's ``attachments`` go to the
    thread's vector store or code_interpreter, ``tool_resources`` are checked
    (and ``vector_stores`` helpers created), a deleted thread's sandbox goes.
    """

    def resolve_tool_resources(self, owner: str, resources: dict[str, Any]) -> dict[str, Any]:
        """Check a request's ``tool_resources`` (404 for unknown ids); return them resolved."""
        if (resources.get("file_search") or {}).get("vector_stores"):
            raise LookupError("no file_search tool is registered to create vector stores")
        return resources

    def check_attachments(self, owner: str, attachments: Iterable[Mapping[str, Any]]) -> None:
        """Refuse (raise an APIError) a message whose attachments name unknown files."""

    def messages_created(self, owner: str, thread_id: str, messages: list[Message]) -> None:
        """Messages were stored in a thread: wire their attachments."""

    def thread_deleted(self, owner: str, thread_id: str) -> None:
        """A thread is gone: drop what the tools kept for it."""


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
        "Search the files attached to this conversation (documents, handbooks, reports) and "
        "get back the passages that answer a question. You do not know what these files say: "
        "use this tool for every question about them.",
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
    annotators: list[Annotator] = field(default_factory=list)
    hooks: ToolHooks = field(default_factory=ToolHooks)

    def resolve_resources(self, owner: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A request body with its ``tool_resources`` checked by the hooks (unknown ids
        are 404s) and resolved (``vector_stores`` helpers created)."""
        if not body.get("tool_resources"):
            return dict(body)
        try:
            resolved = self.hooks.resolve_tool_resources(owner, body["tool_resources"])
        except LookupError as exc:
            raise invalid(
                f"'tool_resources' cannot be used here: {exc}.", param="tool_resources"
            ) from None
        return {**body, "tool_resources": resolved}

    def annotate(self, run_id: str, text: str) -> Annotated:
        """The final form of a run's message: each annotator in turn."""
        result = Annotated(text)
        for annotator in self.annotators:
            result = annotator(run_id, result)
        return result

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
