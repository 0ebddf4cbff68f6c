"""``/openapi.json`` describes the real API: OpenAI's paths, tags, request and response types."""

from __future__ import annotations

import json
import re

import pytest
from assistants.scripted_backend import ScriptedBackend
from fastapi.testclient import TestClient
from openapi_contract import REFERENCE

from nbext.server.app import create_app

NOT_SERVED = {
    # Stored chat completions and model deletion: this server keeps no completions, owns no models.
    ("get", "/chat/completions"),
    ("get", "/chat/completions/{completion_id}"),
    ("post", "/chat/completions/{completion_id}"),
    ("delete", "/chat/completions/{completion_id}"),
    ("get", "/chat/completions/{completion_id}/messages"),
    ("delete", "/models/{model}"),
}


@pytest.fixture(scope="module")
def document() -> dict:
    with TestClient(create_app(ScriptedBackend())) as client:
        return client.get("/openapi.json").json()


def _operations(paths: dict, prefix: str = "") -> dict[tuple[str, str], dict]:
    return {
        (method, path.removeprefix(prefix)): operation
        for path, item in paths.items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "delete")
    }


def test_every_operation_of_the_reference_is_served_under_its_tag(document):
    ours = _operations(document["paths"], "/v1")
    reference = _operations(json.loads(REFERENCE.read_text())["paths"])
    for key, operation in reference.items():
        if key in NOT_SERVED:
            continue
        assert key in ours, f"{key} is not served"
        assert ours[key]["tags"] == operation["tags"], key


def test_json_answers_and_bodies_are_typed(document):
    for (method, path), operation in _operations(document["paths"], "/v1").items():
        if path.endswith("/content") and path.startswith("/files"):
            continue  # the file's own bytes
        answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer, (method, path)
        if method == "post" and not path.endswith(("/cancel", "/files")) and path != "/files":
            assert "requestBody" in operation, (method, path)
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document)))
    assert refs <= set(document["components"]["schemas"])


def test_path_fields_are_not_documented_as_body_fields(document):
    body = document["paths"]["/v1/threads/{thread_id}/runs/{run_id}"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert "thread_id" not in schema.get("properties", {})
    assert "metadata" in schema["properties"]
