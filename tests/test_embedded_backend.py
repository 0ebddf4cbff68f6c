"""The embedded model behind the backend contract (real model, no HTTP)."""

from __future__ import annotations

import dataclasses
import json
import os
import threading

import llama_cpp
import numpy as np
import pytest
from decisions import SAFE_MARGIN, first_token
from pinned_model import MODEL_ID, TEST_MODEL

from nbext.backends import backend_from_settings
from nbext.backends.embedded import EmbeddedBackend
from nbext.backends.model_file import ensure_model_file
from nbext.backends.tool_grammar import NoCallOpening
from nbext.config import Settings
from nbext.errors import APIError
from nbext.tools.registry import BUILTIN_DEFINITIONS

OPEN_QUESTIONS = (
    "Invent a name for a cat. Reply with the name only.",
    "Write one sentence about the sea.",
    "Name a colour.",
)
"""Questions with many good answers: at temperature 1.0 a seed that did not
steer the sampler (or a sampler fed other logits) shows as another text."""
LONG_RULES = " ".join(f"Rule {i}: answer politely and briefly, citing fact {i}." for i in range(20))
"""A system prompt of more than two llama.cpp batches (n_batch 128), so a request
after it can reuse part of the KV cache."""


def ask(backend: EmbeddedBackend, content: str, **params: object) -> str:
    completion = backend.create(
        {
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": content}],
            "temperature": 0,
            **params,
        }  # type: ignore[typeddict-item]
    )
    return completion.choices[0].message.content or ""


def forget_cache(backend: EmbeddedBackend) -> None:
    """Make the next request evaluate its whole prompt, as in a fresh process."""
    backend.load().forget()


def first_token_logits(backend: EmbeddedBackend, messages: list[dict]) -> np.ndarray:
    """The logits the first answer token is sampled from, for ``messages``."""
    backend.create(
        {"model": MODEL_ID, "messages": messages, "max_tokens": 1, "temperature": 0}  # type: ignore[typeddict-item]
    )
    # With max_tokens=1 the sampled token is never decoded, so the context still
    # holds the logits of the prompt's last token.
    llm = backend.load().llm
    return np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm.ctx), shape=(llm.n_vocab(),)).copy()


def test_model_file_is_assembled_and_verified_once() -> None:
    path = ensure_model_file(Settings.from_env().model_dir, TEST_MODEL, progress=False)
    assert path.stat().st_size == TEST_MODEL.size


def test_answers_a_factual_question(embedded: EmbeddedBackend) -> None:
    assert "Paris" in ask(embedded, "What is the capital of France? Answer in one word.")


def test_forced_tool_call_has_schema_valid_arguments(
    embedded: EmbeddedBackend, weather_tool: dict
) -> None:
    completion = embedded.create(
        {
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": "What's the weather like in Paris today?"}],
            "tools": [weather_tool],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "temperature": 0,
        }
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    # The grammar fixes the shape; the value is the model's ("Paris" or "Paris, France").
    assert list(arguments) == ["city"] and "Paris" in arguments["city"]


def test_tool_choice_none_never_calls(embedded: EmbeddedBackend, weather_tool: dict) -> None:
    completion = embedded.create(
        {
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": "What's the weather like in Paris?"}],
            "tools": [weather_tool],
            "tool_choice": "none",
            "temperature": 0,
            "max_tokens": 30,
        }
    )
    assert completion.choices[0].message.tool_calls is None


def test_no_call_opens_before_the_first_visible_character(embedded: EmbeddedBackend) -> None:
    llm = embedded.load().llm
    prompt = llm.tokenize(b"<|im_start|>assistant\n", add_bos=False, special=True)

    def barred(sampled: list[int], *, answer_blank: bool, allow_call_tag: bool = False) -> set[int]:
        processor = NoCallOpening(
            llm, len(prompt), answer_blank=answer_blank, allow_call_tag=allow_call_tag
        )
        scores = processor(np.array(prompt + sampled, dtype=np.intc), np.zeros(llm.n_vocab()))
        return set(np.flatnonzero(np.isneginf(scores)).tolist())

    def token(text: str) -> int:
        (only,) = llm.tokenize(text.encode(), add_bos=False, special=True)
        return only

    openers = {token(t) for t in ("{", " {", "[", " [", "```", "<tool_call>")}
    words = {token(t) for t in ("The", " The", "1", "Sure")}
    blank = barred([], answer_blank=True)
    assert openers <= blank and not words & blank and llm.token_eos() in blank
    assert llm.token_eos() not in barred([], answer_blank=False)
    assert openers <= barred([token("\n")], answer_blank=True)  # whitespace shows nothing
    assert barred([token("Sure")], answer_blank=True) == set()
    # After a call opened with <tool_response> is rewound: a proper call stays possible.
    tagged = barred([], answer_blank=True, allow_call_tag=True)
    assert token("<tool_call>") not in tagged
    assert openers - {token("<tool_call>")} <= tagged and llm.token_eos() in tagged
    assert token("<") in tagged  # <tool_response> is plain text: "<", "tool", ...


def test_after_a_good_tool_result_the_answer_reads_it(embedded: EmbeddedBackend) -> None:
    question = "Compute 2**10 with Python and tell me the result."
    completion = embedded.create(
        {
            "model": MODEL_ID,
            "messages": [
                {"role": "user", "content": question},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {
                                "name": "code_interpreter",
                                "arguments": json.dumps({"code": "print(2**10)"}),
                            },
                        }
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": "call_1",
                    "content": f"The code printed:\n1024\n\nQuestion: {question}\n"
                    "Answer in one sentence.",
                },
            ],
            "tools": [BUILTIN_DEFINITIONS["code_interpreter"]],
            "temperature": 0,
            "max_tokens": 60,
        }  # type: ignore[typeddict-item]
    )
    message = completion.choices[0].message
    assert message.tool_calls is None
    assert "1024" in (message.content or "")
    assert not (message.content or "").lstrip().startswith(("{", "[", "`", "<"))


WITH_TOOLS = {"tools": [BUILTIN_DEFINITIONS["code_interpreter"]]}


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ({}, (0.7, 0.8, 20)),
        ({"temperature": 1.0}, (1.0, 0.8, 20)),
        ({"temperature": 0, "top_p": 1.0}, (0, 1.0, 20)),
        ({"top_p": 0.5}, (0.7, 0.5, 20)),
        (WITH_TOOLS, (0.0, 0.8, 20)),
        ({**WITH_TOOLS, "tool_choice": "required"}, (0.0, 0.8, 20)),
        ({**WITH_TOOLS, "temperature": 0.7}, (0.7, 0.8, 20)),
        ({**WITH_TOOLS, "tool_choice": "none"}, (0.7, 0.8, 20)),
    ],
)
def test_unset_sampling_is_what_the_model_makers_recommend(
    embedded: EmbeddedBackend, given: dict, used: tuple
) -> None:
    """Qwen's generation_config (temperature 0.7, top_p 0.8, top_k 20) fills what a
    request leaves unset, not OpenAI's 1.0; what it sets is used as it is. Offered
    tools, the model decides greedily unless the request sets a temperature."""
    request = {"model": MODEL_ID, "messages": [{"role": "user", "content": "Hi"}], **given}
    sampling = embedded._plan(embedded.load(), request).sampling  # type: ignore[arg-type]
    assert (sampling["temperature"], sampling["top_p"], sampling["top_k"]) == used


TUTORIAL_05_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "the city's name, e.g. Paris."}
            },
            "required": ["city"],
        },
    },
}


CODER_07 = (
    "You are a helpful assistant. Use the code_interpreter tool to compute answers and "
    "print the result."
)
FIBONACCI_07 = (
    "What is the 20th Fibonacci number? Use code: define fibonacci(n), then print(fibonacci(20))."
)


@pytest.mark.parametrize(
    ("instructions", "question", "tool", "calls"),
    [
        (
            "Answer in one full sentence.",
            "What's the weather like in Paris right now?",
            TUTORIAL_05_TOOL,
            True,
        ),
        ("Answer in one full sentence.", "Write a haiku about autumn.", TUTORIAL_05_TOOL, False),
        (CODER_07, FIBONACCI_07, BUILTIN_DEFINITIONS["code_interpreter"], True),
    ],
    ids=["05-weather-calls", "05-haiku-answers", "07-fibonacci-runs-code"],
)
def test_the_tutorials_unforced_decisions_are_far_from_a_tie(
    embedded: EmbeddedBackend, instructions: str, question: str, tool: dict, calls: bool
) -> None:
    """Notebooks 05 and 07 store what the model decides under tool_choice "auto" at
    temperature 0. Greedy decoding takes the likeliest first token; this checks that
    a call opening (or a word) wins by more than 1 nat (a factor of e). Evaluating the
    07 prompt in batches of 32 or 7 instead of 128 (other matrix-multiply kernels)
    moved its logits by at most 0.33, so the margin can shrink by 0.66 at worst:
    logits differing that much across CPUs or builds leave the stored outputs true."""
    request = {
        "model": MODEL_ID,
        "messages": [
            {"role": "system", "content": instructions},
            {"role": "user", "content": question},
        ],
        "tools": [tool],
        "temperature": 0,
    }
    margin = first_token(embedded, request).call_margin()
    margin = margin if calls else -margin
    print(f"{question!r}: the decision wins by {margin:.2f} nats")
    assert margin > SAFE_MARGIN, f"{question!r}: the decision wins by only {margin:.2f} nats"


def test_json_schema_response_format_is_obeyed(embedded: EmbeddedBackend) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    text = ask(
        embedded,
        "Ada Lovelace was 36. Describe her as JSON.",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema},
        },
    )
    value = json.loads(text)
    assert set(value) == {"name", "age"} and isinstance(value["age"], int)


def test_max_tokens_stops_with_length_and_counts_usage(embedded: EmbeddedBackend) -> None:
    completion = embedded.create(
        {
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": "Write a long poem about the sea."}],
            "max_tokens": 5,
            "temperature": 0,
        }
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 5
    assert completion.usage.prompt_tokens == embedded.count_tokens(
        [{"role": "user", "content": "Write a long poem about the sea."}]
    )


def test_stop_sequence_ends_the_answer(embedded: EmbeddedBackend) -> None:
    text = ask(embedded, "Count from 1 to 10, separated by commas.", stop=["5"])
    assert "5" not in text and "4" in text


def test_logits_do_not_depend_on_what_the_kv_cache_holds(embedded: EmbeddedBackend) -> None:
    # llama.cpp's CPU kernels give other bits for other batch shapes; a request
    # that reused the cache as llama-cpp-python does (evaluate only what differs)
    # got logits up to 0.39 away from a fresh evaluation of the same prompt.
    prompts = {
        "long colour": [
            {"role": "system", "content": LONG_RULES},
            {"role": "user", "content": "Name a colour."},
        ],
        "long cat": [
            {"role": "system", "content": LONG_RULES},
            {"role": "user", "content": OPEN_QUESTIONS[0]},
        ],
        "short": [{"role": "user", "content": "Name a colour."}],
    }
    assert embedded.count_tokens(prompts["long colour"]) > 2 * embedded.load().llm.n_batch
    fresh = {}
    for name, messages in prompts.items():
        forget_cache(embedded)
        fresh[name] = first_token_logits(embedded, messages)
    # Each probe follows a real answer, so the cache holds a prompt and its
    # generated tokens: the same prompt, a long shared prefix, or little in common.
    # "long colour" after "short" is put back from the prefix cache.
    for before, probe in [
        ("long colour", "long colour"),
        ("long cat", "long colour"),
        ("short", "short"),
        ("long colour", "short"),
        ("short", "long colour"),
    ]:
        embedded.create(
            {"model": MODEL_ID, "messages": prompts[before], "max_tokens": 8, "temperature": 0}  # type: ignore[typeddict-item]
        )
        assert np.array_equal(first_token_logits(embedded, prompts[probe]), fresh[probe]), (
            f"{probe!r} after {before!r}"
        )


def test_a_prompt_seen_before_is_not_evaluated_again(embedded: EmbeddedBackend) -> None:
    """Two prompts in turn, as a run's forced call and its answer alternate: the
    third request finds the first one's whole batches in the prefix cache."""
    model = embedded.load()
    forget_cache(embedded)
    long_prompt = [
        {"role": "system", "content": LONG_RULES},
        {"role": "user", "content": "Name a colour."},
    ]
    whole = embedded.count_tokens(long_prompt) // model.llm.n_batch * model.llm.n_batch
    assert whole >= 2 * model.llm.n_batch
    first = first_token_logits(embedded, long_prompt)
    embedded.create(
        {"model": MODEL_ID, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}  # type: ignore[typeddict-item]
    )
    restored = model.prefix_cache.restored_tokens
    again = first_token_logits(embedded, long_prompt)
    assert model.prefix_cache.restored_tokens - restored == whole
    assert np.array_equal(again, first)


@pytest.mark.parametrize("rules", [False, True], ids=["short", "long-shared-prefix"])
@pytest.mark.parametrize("seed", [1, 42, 1234])
def test_same_seed_same_text_whatever_ran_before(
    embedded: EmbeddedBackend, seed: int, rules: bool
) -> None:
    def ask_seeded(question: str) -> str:
        system = [{"role": "system", "content": LONG_RULES}] if rules else []
        completion = embedded.create(
            {
                "model": MODEL_ID,
                "messages": [*system, {"role": "user", "content": question}],
                "temperature": 1.0,
                "seed": seed,
                "max_tokens": 16,
            }  # type: ignore[typeddict-item]
        )
        return completion.choices[0].message.content or ""

    first, second = OPEN_QUESTIONS[:2]
    answer = ask_seeded(first)
    assert ask_seeded(first) == answer  # twice in a row
    other = ask_seeded(second)
    assert ask_seeded(first) == answer  # after another request
    assert ask_seeded(second) == other  # and the other way round


def test_greedy_text_whatever_ran_before(embedded: EmbeddedBackend) -> None:
    story = "Write a short story about a lighthouse keeper."
    params = {"max_tokens": 48}
    answer = ask(embedded, story, **params)
    assert ask(embedded, story, **params) == answer
    other = ask(embedded, "Explain what a hash map is.", **params)
    assert ask(embedded, story, **params) == answer
    assert ask(embedded, "Explain what a hash map is.", **params) == other


def test_the_seed_matters(embedded: EmbeddedBackend) -> None:
    params = {"temperature": 1.0, "max_tokens": 16}
    assert any(
        ask(embedded, question, seed=1, **params) != ask(embedded, question, seed=2, **params)
        for question in OPEN_QUESTIONS
    )


@pytest.mark.parametrize("seed", [-1, 2**32 - 1, 2**40 + 3])
def test_any_integer_seed_repeats(embedded: EmbeddedBackend, seed: int) -> None:
    # -1 and 2**32 - 1 both reach llama.cpp as 0xFFFFFFFF ("random") unless folded.
    params = {"temperature": 1.0, "seed": seed, "max_tokens": 16}
    assert ask(embedded, OPEN_QUESTIONS[0], **params) == ask(embedded, OPEN_QUESTIONS[0], **params)


def test_no_seed_means_fresh_randomness(embedded: EmbeddedBackend) -> None:
    # llama-cpp-python derives an unseeded request's seed from the previous
    # request's: after the same seeded request it would answer the same again.
    question = "Write ten random letters."
    answers = set()
    for _ in range(3):
        ask(embedded, question, temperature=1.0, seed=7, max_tokens=12)
        answers.add(ask(embedded, question, temperature=1.0, max_tokens=12))
    assert len(answers) > 1


def test_stream_ends_with_usage_chunk(embedded: EmbeddedBackend) -> None:
    chunks = list(
        embedded.stream(
            {
                "model": MODEL_ID,
                "messages": [{"role": "user", "content": "Say hi."}],
                "max_tokens": 8,
            }
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason in ("stop", "length")
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens >= 1


def test_concurrent_requests_queue_and_all_succeed(embedded: EmbeddedBackend) -> None:
    answers: list[str] = []

    def worker() -> None:
        answers.append(ask(embedded, "What is 2+2? Answer with the number only.", max_tokens=5))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 3 and all("4" in a for a in answers)


def test_unknown_model_is_a_404_naming_the_fix(embedded: EmbeddedBackend) -> None:
    with pytest.raises(APIError) as raised:
        list(embedded.stream({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}))
    assert raised.value.status == 404 and "NBEXT_BACKEND_URL" in raised.value.message


def test_prompt_longer_than_the_context_is_refused(embedded: EmbeddedBackend) -> None:
    small = EmbeddedBackend(
        Settings.from_env().model_dir, model=MODEL_ID, context_window=embedded.context_window
    )
    huge = "word " * (embedded.context_window + 10)
    with pytest.raises(APIError) as raised:
        small.create({"model": MODEL_ID, "messages": [{"role": "user", "content": huge}]})
    assert raised.value.code == "context_length_exceeded"


def test_threads_default_to_every_available_core(embedded: EmbeddedBackend) -> None:
    assert embedded.threads == len(os.sched_getaffinity(0))
    params = embedded.load().llm.context_params
    assert params.n_threads == params.n_threads_batch == embedded.threads


def test_threads_come_from_settings() -> None:
    settings = dataclasses.replace(Settings.from_env(), backend_url=None, threads=1)
    backend = backend_from_settings(settings)
    assert isinstance(backend, EmbeddedBackend) and backend.threads == 1
    with pytest.raises(ValueError):
        EmbeddedBackend(settings.model_dir, threads=0)


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, 128 * 1024 * 1024), ("64M", 64 * 1024 * 1024), ("0", 0), ("1G", 1024**3)],
)
def test_prefix_cache_size_comes_from_settings(given: str | None, expected: int) -> None:
    env = {"NBEXT_HOME": "/nonexistent"} | ({"NBEXT_PREFIX_CACHE": given} if given else {})
    settings = Settings.from_env(env)
    assert settings.prefix_cache_bytes == expected
    assert Settings.from_env(settings.as_environ()).prefix_cache_bytes == expected


@pytest.mark.parametrize("wrong", ["lots", "-1M", "12Q"])
def test_a_wrong_prefix_cache_size_names_the_variable(wrong: str) -> None:
    with pytest.raises(ValueError, match="NBEXT_PREFIX_CACHE"):
        Settings.from_env({"NBEXT_HOME": "/nonexistent", "NBEXT_PREFIX_CACHE": wrong})


def test_a_prefix_cache_of_zero_saves_nothing(embedded: EmbeddedBackend) -> None:
    model = embedded.load()
    off = EmbeddedBackend(
        Settings.from_env().model_dir, model=embedded.default_model, prefix_cache_bytes=0
    )
    try:
        assert off.load() is model  # one model per process: the setting is the process's
        forget_cache(embedded)
        long_prompt = [
            {"role": "system", "content": LONG_RULES},
            {"role": "user", "content": "Name a colour."},
        ]
        first_token_logits(off, long_prompt)
        off.create(
            {"model": MODEL_ID, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}  # type: ignore[typeddict-item]
        )
        assert len(model.prefix_cache) == 0
    finally:
        embedded.load()  # the session's setting back


def test_token_counts_add_up_even_for_an_empty_prompt(
    embedded: EmbeddedBackend, weather_tool: dict
) -> None:
    hello = [{"role": "user", "content": "Hello there"}]
    empty = embedded.count_tokens([])
    assert 0 < empty < embedded.count_tokens(hello)
    assert embedded.count_tokens([], [weather_tool]) > empty


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "200000 100000\n"}, 2),
        ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs: two threads may run
        ({"cpu.max": "50000 100000\n"}, 1),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "400000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 4),
        ({"cpu.max": "garbage\n"}, None),
        ({}, None),
    ],
)
def test_cgroup_cpu_quota_limits_the_thread_count(
    tmp_path, files: dict[str, str], expected: int | None
) -> None:
    """Binder and JupyterHub cap CPU by a cgroup quota while the affinity lists
    every core of the host; more threads than the quota spin-wait on each other."""
    from nbext.backends.embedded import _cgroup_cpu_quota

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert _cgroup_cpu_quota(tmp_path) == expected
