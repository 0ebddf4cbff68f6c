"""OpenAI model names (``gpt-4o``, ``gpt-4-1106-preview``...) are served by the backend's model.

Code written for the hosted APIs names OpenAI models; with the default alias
table it runs unchanged, objects keep the caller's name, and the run's prompt
record says which model served it. ``NBEXT_MODEL_ALIASES=strict`` refuses them.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from pinned_model import MODEL_ID

from nbext.backends.aliases import DEFAULT, AliasedBackend, ModelAliases, with_aliases
from nbext.backends.embedded import EmbeddedBackend
from nbext.backends.remote import RemoteBackend
from nbext.server.app import create_app
from nbext.server.runner import BackgroundServer

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("gpt-4o", DEFAULT),
        ("gpt-4o-mini", DEFAULT),
        ("gpt-4-1106-preview", DEFAULT),
        ("gpt-3.5-turbo", DEFAULT),
        ("gpt-4.1", DEFAULT),
        ("chatgpt-4o-latest", DEFAULT),
        ("o1", DEFAULT),
        ("o3-mini", DEFAULT),
        ("o4-mini", DEFAULT),
        (MODEL_ID, None),  # the backend's own name is not an alias
        ("default", None),
        ("llama-3-70b", None),  # not an OpenAI name: the backend decides (404)
        ("openai", None),  # o + a letter is not the o-series
        ("GPT-4O", None),  # OpenAI's names are lower case; so is the table
    ],
)
def test_default_table_for_a_local_model(name: str, target: str | None) -> None:
    assert ModelAliases().target(name, forwards_names=False) == target


def test_a_remote_endpoint_gets_names_as_they_are_unless_an_entry_says_otherwise() -> None:
    aliases = ModelAliases.parse("gpt-4o=llama3.1:8b")
    assert aliases.target("gpt-4o", forwards_names=True) == "llama3.1:8b"
    assert aliases.target("gpt-4o-mini", forwards_names=True) is None
    assert ModelAliases().target("gpt-4o", forwards_names=True) is None


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, ModelAliases()),
        ("", ModelAliases()),
        ("strict", ModelAliases(strict=True)),
        (" STRICT ", ModelAliases(strict=True)),
        (
            "gpt-4o=qwen2.5-coder-1.5b-instruct",
            ModelAliases((("gpt-4o", "qwen2.5-coder-1.5b-instruct"),)),
        ),
        ("gpt-4*=default, o3=x", ModelAliases((("gpt-4*", "default"), ("o3", "x")))),
    ],
)
def test_parse_the_setting(spec: str | None, expected: ModelAliases) -> None:
    assert ModelAliases.parse(spec) == expected


@pytest.mark.parametrize("spec", ["gpt-4o", "=x", "gpt-4o=", "a=b,c"])
def test_a_malformed_setting_says_what_is_expected(spec: str) -> None:
    with pytest.raises(ValueError, match="NAME=TARGET"):
        ModelAliases.parse(spec)


def test_explicit_entries_come_first_and_strict_refuses_all() -> None:
    aliases = ModelAliases.parse("gpt-4o=special")
    assert aliases.target("gpt-4o", forwards_names=False) == "special"
    assert aliases.target("gpt-4o-mini", forwards_names=False) == DEFAULT
    assert ModelAliases(strict=True).target("gpt-4o", forwards_names=False) is None


def test_wrapping_twice_keeps_one_layer(embedded: EmbeddedBackend) -> None:
    once = with_aliases(embedded)
    twice = with_aliases(once, ModelAliases(strict=True))
    assert twice.inner is embedded and twice.aliases.strict
    remote = with_aliases(RemoteBackend("http://127.0.0.1:9/v1", None, None))
    assert remote.served_name("gpt-4o") == "gpt-4o"
    assert "names go to the endpoint" in remote.describe_aliases()


@pytest.fixture(scope="module")
def strict_client(embedded: EmbeddedBackend) -> Iterator[openai.OpenAI]:
    server = BackgroundServer(create_app(embedded, model_aliases=ModelAliases(strict=True))).start()
    try:
        yield openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
    finally:
        server.stop()


def test_chat_completion_with_an_openai_name_is_served_by_the_local_model(
    client: openai.OpenAI,
) -> None:
    completion = client.chat.completions.create(model="gpt-4o", messages=QUESTION, temperature=0)
    assert "Paris" in completion.choices[0].message.content
    assert completion.model == MODEL_ID  # what served it, as OpenAI names the snapshot
    chunks = list(
        client.chat.completions.create(
            model="gpt-3.5-turbo", messages=QUESTION, temperature=0, stream=True, max_tokens=4
        )
    )
    assert chunks and {c.model for c in chunks} == {MODEL_ID}


def test_models_retrieve_answers_an_alias_under_its_name(client: openai.OpenAI) -> None:
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"
    assert client.models.retrieve(MODEL_ID).id == MODEL_ID
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("llama-3-70b")


def test_a_tutorial_written_for_openai_runs_unchanged(client: openai.OpenAI) -> None:
    """The flow of a public tutorial for the hosted API, with its own model name."""
    assistant = client.beta.assistants.create(
        name="Math Tutor",
        instructions="You are a personal math tutor. Answer briefly.",
        model="gpt-4-1106-preview",
        temperature=0,
    )
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content="What is 3 + 4?")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "completed", run.last_error
    assert run.model == "gpt-4-1106-preview"  # objects keep the caller's name
    assert client.beta.assistants.retrieve(assistant.id).model == "gpt-4-1106-preview"
    answer = client.beta.threads.messages.list(thread.id, order="desc", limit=1).data[0]
    assert answer.role == "assistant" and "7" in answer.content[0].text.value
    prompts = client.get(f"/threads/{thread.id}/runs/{run.id}/prompts", cast_to=object)["data"]
    assert [(p["request"]["model"], p["served_by"]) for p in prompts] == [
        ("gpt-4-1106-preview", MODEL_ID)
    ]


def test_strict_mode_refuses_openai_names(strict_client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        strict_client.chat.completions.create(model="gpt-4o", messages=QUESTION, max_tokens=2)
    assert raised.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        strict_client.models.retrieve("gpt-4o")
    assert strict_client.models.retrieve(MODEL_ID).id == MODEL_ID


def test_status_says_which_names_the_model_serves(client: openai.OpenAI) -> None:
    facts = client.get("/nbext/status", cast_to=object)
    assert facts["model_aliases"] == f"gpt-*, chatgpt-*, o[0-9]*, text-davinci-* → {MODEL_ID}"


def test_the_app_always_serves_aliases(embedded: EmbeddedBackend, tmp_path) -> None:
    app = create_app(embedded, home=tmp_path)
    assert isinstance(app.state.backend, AliasedBackend) and app.state.backend.inner is embedded
