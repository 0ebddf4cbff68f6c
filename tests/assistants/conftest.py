"""Fixtures of the runtime tests: a scripted backend, a fake clock, a service on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai.types.beta import Assistant

from nbext.api.services import AssistantsService
from nbext.store import Store

from .helpers import OWNER, WEATHER, FakeClock
from .scripted_backend import ScriptedBackend


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'nbext.db'}"


@pytest.fixture
def service(db_url: str, backend: ScriptedBackend, clock: FakeClock) -> Iterator[AssistantsService]:
    running = AssistantsService(Store(db_url), backend, clock=clock)
    yield running
    running.close()


@pytest.fixture
def assistant(service: AssistantsService) -> Assistant:
    return service.assistants.create(
        OWNER, {"model": "scripted", "instructions": "Be brief.", "tools": [WEATHER]}
    )
