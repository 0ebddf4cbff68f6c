"""The Assistants API v2 runtime: run state machine, tool loop, truncation, run steps, events.

No HTTP in here: :class:`AssistantsService` is called in-process (tests,
magics) and by the thin HTTP adapter in ``nbext.server``.
"""

from nbext.assistants.events import Event, event_json
from nbext.assistants.records import RunContext, RunPrompt
from nbext.assistants.service import AssistantsService
from nbext.assistants.tools import ToolContext, ToolExecutor, ToolRegistry, ToolResult

__all__ = [
    "AssistantsService",
    "Event",
    "RunContext",
    "RunPrompt",
    "ToolContext",
    "ToolExecutor",
    "ToolRegistry",
    "ToolResult",
    "event_json",
]
