"""Names that the server and its clients (the magics) must agree on.

The magics talk to the server only over HTTP, as a learner's code would; what
they share is the wire, and the few names of it that OpenAI's API does not
define are here, once.
"""

from __future__ import annotations

EXPIRES_IN_KEY = "nbext_expires_in"
"""Run metadata key: expire the run after this many seconds (drills)."""

INCLUDE_FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
"""The ``include[]`` value that asks for file_search passages in run steps (OpenAI's)."""

TOKEN_COUNTING_IN_WORDS = {
    "tokenizer": "the model's own tokenizer",
    "usage": "characters per token from the backend's reported usage",
    "estimate": "characters/4, until the backend reports a usage",
}
"""How the server counts prompt tokens (``token_counting`` of ``/context`` and the
status), as ``%nbext`` and the context window view write it."""

STATUS_PATH = "/nbext/status"
"""What the server runs (GET), under ``/v1``."""
BACKEND_PATH = "/nbext/backend"
"""Switch the server's backend (PUT), under ``/v1``."""


def run_context_path(thread_id: str, run_id: str) -> str:
    """nbext's own: which messages a run sent, which truncation left out."""
    return f"/threads/{thread_id}/runs/{run_id}/context"


def run_prompts_path(thread_id: str, run_id: str) -> str:
    """nbext's own: the exact Chat Completions requests a run made."""
    return f"/threads/{thread_id}/runs/{run_id}/prompts"
