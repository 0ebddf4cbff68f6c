"""OpenAI model names served by the backend's model: code written for OpenAI runs unchanged.

Every tutorial and notebook written for the hosted APIs names an OpenAI model
(``gpt-4o``, ``gpt-4-1106-preview``, ``gpt-3.5-turbo``, ``o3-mini``...). The
embedded backend serves one local model, so by default any such name is served
by it. Objects keep the name their caller gave (an assistant created with
``gpt-4o`` says ``gpt-4o``, as the hosted API did); what actually served a
call is the completion's ``model`` and the run's prompt record (``served_by``).

``NBEXT_MODEL_ALIASES`` changes the table:

- unset or empty: the default patterns below map to the backend's default model;
- ``strict``: no aliases at all; an unknown name is a 404 ``model_not_found``;
- ``NAME=TARGET[,NAME=TARGET...]``: these first (``fnmatch`` patterns allowed,
  ``TARGET`` a model id or ``default``), then the default patterns.

A remote backend (``NBEXT_BACKEND_URL``) gets names passed through unless an
explicit entry says otherwise: the endpoint may well serve ``gpt-4o`` itself.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from nbext.backends.base import ChatBackend, ChatRequest, TokenCounting

DEFAULT = "default"
"""An alias target meaning the backend's default model."""

OPENAI_NAME_PATTERNS: tuple[str, ...] = ("gpt-*", "chatgpt-*", "o[0-9]*", "text-davinci-*")
"""OpenAI's chat model families: GPT, ChatGPT, the o-series reasoning models."""

STRICT = "strict"


@dataclass(frozen=True)
class ModelAliases:
    """Which requested names another model serves, in order of precedence."""

    entries: tuple[tuple[str, str], ...] = ()
    """Explicit ``(pattern, target)`` pairs, checked first."""
    strict: bool = False

    @classmethod
    def parse(cls, spec: str | None) -> ModelAliases:
        """Read ``NBEXT_MODEL_ALIASES`` (see the module docstring)."""
        text = (spec or "").strip()
        if text.lower() == STRICT:
            return cls(strict=True)
        entries = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, target = item.partition("=")
            if not sep or not name.strip() or not target.strip():
                raise ValueError(
                    f"NBEXT_MODEL_ALIASES: {item!r} is not NAME=TARGET "
                    "(e.g. gpt-4o=qwen2.5-coder-0.5b-instruct, or 'strict')."
                )
            entries.append((name.strip(), target.strip()))
        return cls(tuple(entries))

    def target(self, name: str, *, forwards_names: bool) -> str | None:
        """The model that serves ``name`` (``DEFAULT`` for the backend's default), or
        ``None`` when ``name`` is not an alias and goes to the backend as it is."""
        if self.strict:
            return None
        for pattern, target in self.entries:
            if fnmatch.fnmatchcase(name, pattern):
                return target
        if forwards_names:
            return None
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in OPENAI_NAME_PATTERNS):
            return DEFAULT
        return None


class AliasedBackend:
    """A backend that serves aliased model names with the model they stand for.

    Everything else is the wrapped backend's: the server and the runtime see
    one :class:`~nbext.backends.base.ChatBackend` either way.
    """

    def __init__(self, inner: ChatBackend, aliases: ModelAliases) -> None:
        self.inner = inner
        self.aliases = aliases

    def __getattr__(self, name: str) -> Any:
        # What a backend offers beyond the contract (``threads``, ``load``...).
        return getattr(self.inner, name)

    # -- the contract, delegated ------------------------------------------

    @property
    def default_model(self) -> str:
        return self.inner.default_model

    @property
    def context_window(self) -> int:
        return self.inner.context_window

    @property
    def description(self) -> str:
        return self.inner.description

    def list_models(self) -> list[Model]:
        return self.inner.list_models()

    def count_tokens(self, messages: Sequence[Any], tools: Sequence[Any] | None = None) -> int:
        return self.inner.count_tokens(messages, tools)

    @property
    def token_counting(self) -> TokenCounting:
        return self.inner.token_counting

    def create(self, request: ChatRequest) -> ChatCompletion:
        return self.inner.create(self._resolved(request))

    def stream(self, request: ChatRequest) -> Iterator[ChatCompletionChunk]:
        return self.inner.stream(self._resolved(request))

    # -- names ------------------------------------------------------------

    def served_name(self, name: str) -> str:
        """The model id that serves requests naming ``name``."""
        forwards = bool(getattr(self.inner, "forwards_model_names", False))
        target = self.aliases.target(name, forwards_names=forwards)
        if target is None:
            return name
        return self.inner.default_model if target == DEFAULT else target

    def describe_aliases(self) -> str:
        """One line for ``%nbext``: e.g. ``gpt-*, chatgpt-*, o[0-9]*, text-davinci-* →
        qwen2.5-coder-0.5b-instruct``."""
        if self.aliases.strict:
            return "none (strict: only the backend's own model names)"
        forwards = bool(getattr(self.inner, "forwards_model_names", False))
        rules = [(p, t) for p, t in self.aliases.entries]
        if not forwards:
            rules.append((", ".join(OPENAI_NAME_PATTERNS), DEFAULT))
        if not rules:
            return "none (names go to the endpoint as they are)"
        default = self.inner.default_model
        return "; ".join(f"{p} → {default if t == DEFAULT else t}" for p, t in rules)

    def model(self, name: str) -> Model | None:
        """``GET /v1/models/{name}``: the model, or the alias, or ``None`` if unknown."""
        models = {m.id: m for m in self.list_models()}
        if name in models:
            return models[name]
        served = self.served_name(name)
        if served != name and served in models:
            # The hosted API answered its aliases (``gpt-4o``) under the name asked for.
            return models[served].model_copy(update={"id": name})
        return None

    def _resolved(self, request: ChatRequest) -> ChatRequest:
        name = request.get("model")
        if not isinstance(name, str) or not name:
            return request  # the backend answers a missing name its own way
        served = self.served_name(name)
        if served == name:
            return request
        return {**request, "model": served}  # type: ignore[typeddict-item]


def with_aliases(backend: ChatBackend, aliases: ModelAliases | None = None) -> AliasedBackend:
    """``backend`` serving aliases (the default table unless ``aliases`` is given);
    a backend that already does is re-wrapped around its inner backend."""
    inner = backend.inner if isinstance(backend, AliasedBackend) else backend
    return AliasedBackend(inner, aliases or ModelAliases())
