"""``nbext serve`` as a workshop host starts it: a real process, real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import openai
import pytest
from api_helpers import free_port, start_serve


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    port = free_port()
    process = start_serve({"NBEXT_API_KEY": "k-one,k-two"}, port)
    yield f"http://127.0.0.1:{port}/v1"
    process.terminate()
    process.wait(timeout=10)


def test_serve_answers_the_official_client_with_a_key(served: str) -> None:
    client = openai.OpenAI(base_url=served, api_key="k-two", max_retries=0)
    completion = client.chat.completions.create(
        model="qwen2.5-coder-0.5b-instruct",
        messages=[{"role": "user", "content": "What is the capital of France? One word."}],
        temperature=0,
    )
    assert "Paris" in completion.choices[0].message.content
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=served, api_key="k-three", max_retries=0).models.list()


def test_serve_refuses_a_public_address_without_keys() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NBEXT_API_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "nbext.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "NBEXT_API_KEY" in result.stderr and "Traceback" not in result.stderr
