"""Shared fixtures: one embedded model and one real HTTP server per test session.

Loading the model takes about a second and every test may share it (the
backend queues concurrent requests), so the fixtures are session-scoped.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import get_ipython, start_ipython

from nbext.backends.embedded import EmbeddedBackend
from nbext.config import Settings
from nbext.server.app import create_app
from nbext.server.runner import BackgroundServer

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(scope="session")
def ipython_shell() -> InteractiveShell:
    """One IPython shell for the whole session (IPython allows one), with the kit loaded."""
    shell = start_ipython() or get_ipython()
    shell.run_line_magic("load_ext", "nbext")
    return shell


@pytest.fixture(scope="session")
def weather_tool() -> dict:
    return WEATHER_TOOL


@pytest.fixture(scope="session")
def embedded() -> EmbeddedBackend:
    backend = EmbeddedBackend(Settings.from_env().model_dir, progress=False)
    backend.load()
    return backend


@pytest.fixture(scope="session")
def server(embedded: EmbeddedBackend) -> Iterator[BackgroundServer]:
    running = BackgroundServer(create_app(embedded)).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def client(server: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
