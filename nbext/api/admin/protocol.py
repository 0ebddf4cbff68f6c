"""What ``PUT /v1/nbext/backend`` accepts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class BackendChoice(BaseModel):
    """``%nbext backend TARGET [--key K] [--model M]``."""

    model_config = ConfigDict(extra="forbid")

    target: str
    """``embedded`` or the base URL of an OpenAI-compatible endpoint."""
    key: str | None = None
    model: str | None = None
