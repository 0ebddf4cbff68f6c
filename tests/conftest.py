"""Shared fixtures: one embedded model and one real HTTP server per test session.

Loading the model takes about a second and every test may share it (the
backend queues concurrent requests), so the fixtures are session-scoped.

The tests run on the 0.5B (``tests/pinned_model.py``), the tutorials on the
default model, whatever ``NBEXT_MODEL`` says outside.

The session runs in a data directory of its own (``NBEXT_HOME``, set before
any test or notebook kernel starts, so they all inherit it): its database,
files and local server are the tests', not the user's. Only the model file is
shared, through a symlink to the user's model cache.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import get_ipython, start_ipython
from nbval_outputs import PIN
from pinned_model import TEST_MODEL

from nbext import local_server
from nbext.backends.embedded import EmbeddedBackend
from nbext.config import Settings
from nbext.server.app import create_app
from nbext.server.runner import BackgroundServer


def fresh_home(user: Settings, prefix: str) -> Path:
    """A fresh NBEXT_HOME that shares only the model files of ``user``'s home."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    user.model_dir.mkdir(parents=True, exist_ok=True)
    (home / "models").symlink_to(user.model_dir.resolve())
    report = user.home / "doctor.json"
    if report.exists():  # %nbext shows the doctor's verdict
        shutil.copy(report, home / "doctor.json")
    return home


def _session_home() -> None:
    home = fresh_home(Settings.from_env(), "nbext-tests-")
    os.environ["NBEXT_HOME"] = str(home)
    os.environ.pop("NBEXT_DB_URL", None)
    os.environ.pop("NBEXT_SERVER_URL", None)
    os.environ["NBEXT_MODEL"] = TEST_MODEL.id
    os.environ[PIN] = "1"

    def clean_up() -> None:
        local_server.stop_all(Settings.from_env())
        shutil.rmtree(home, ignore_errors=True)

    atexit.register(clean_up)


_session_home()

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
    settings = Settings.from_env()
    backend = EmbeddedBackend(settings.model_dir, model=settings.model, progress=False)
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
