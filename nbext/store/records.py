"""What a run showed the model: the extra objects that make the Assistants API inspectable.

OpenAI never told you which thread messages a run sent to the model or what
the Chat Completions requests looked like; this server records both, so a
lesson can put "the Assistants API is Chat Completions plus server-side
state" side by side with the evidence. These are not OpenAI wire objects
(there are none for this); they are served by a clearly-named extra endpoint.
"""

from __future__ import annotations

from typing import Any, Literal

from openai.types import CompletionUsage
from openai.types.beta.threads.run import TruncationStrategy
from pydantic import BaseModel

from nbext.backends.base import TokenCounting


class RunContext(BaseModel):
    """Which thread messages the run sent to the model, and which truncation left out."""

    object: Literal["thread.run.context"] = "thread.run.context"
    id: str  # the run's id: one context per run
    thread_id: str
    created_at: int
    truncation_strategy: TruncationStrategy
    context_window: int
    prompt_budget: int  # tokens the whole first prompt was allowed to use
    prompt_tokens: int  # what the first prompt actually counted
    token_counting: TokenCounting | None = None
    """How the tokens were counted: ``tokenizer`` (the model's own), ``usage`` (characters
    per token the backend's reported usage showed), ``estimate`` (characters/4);
    ``None`` for runs recorded before it was kept."""
    sent_message_ids: list[str]
    omitted_message_ids: list[str]
    message_tokens: dict[str, int] = {}  # message id -> its cached token count, where known


class StoredContext(BaseModel):
    """A :class:`RunContext` as stored: left-out messages as ranges, so a run on a
    thread of 10,000 messages does not write 10,000 ids."""

    id: str
    thread_id: str
    created_at: int
    truncation_strategy: TruncationStrategy
    context_window: int
    prompt_budget: int
    prompt_tokens: int
    token_counting: TokenCounting | None = None
    sent_message_ids: list[str]
    omitted_seq_ranges: list[tuple[int, int]]  # inclusive ``seq`` ranges of the messages table


class RunPrompt(BaseModel):
    """One model call of a run: the exact Chat Completions request, and what came back."""

    object: Literal["thread.run.prompt"] = "thread.run.prompt"
    id: str
    run_id: str
    thread_id: str
    created_at: int
    index: int  # 0 for the run's first model call
    request: dict[str, Any]
    served_by: str | None = None
    """The model that answered (the completion's ``model``): the backend's own id when
    ``request["model"]`` is an alias such as ``gpt-4o`` (:mod:`nbext.backends.aliases`)."""
    response: dict[str, Any] | None = None  # the assistant message, in Chat Completions form
    finish_reason: str | None = None
    usage: CompletionUsage | None = None
    step_ids: list[str] = []  # the run steps this call produced, in order
    tool_outputs: dict[str, str] = {}  # tool call id -> what the model is told the call returned


class FileSearchContents(BaseModel):
    """The passage texts of one file_search call, in the order of its step's results.

    Kept apart from the run step because OpenAI returned them only on request
    (``include=["step_details.tool_calls[*].file_search.results[*].content"]``).
    """

    id: str  # the tool call's id
    run_id: str
    created_at: int
    file_ids: list[str]
    filenames: list[str]
    contents: list[str]
