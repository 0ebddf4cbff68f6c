"""The Assistants API v2 services (moving to nbext.api, one package per resource)."""

from nbext.assistants.service import AssistantsService

__all__ = ["AssistantsService"]
