"""code_interpreter's mark on the final message: figures and the files the code wrote.

Each file the code wrote gets a ``file_path`` annotation on
``sandbox:/mnt/data/<name>`` (or ``/mnt/data/<name>``) where the answer
mentions it, else on such a link appended to the answer; figures become
``image_file`` blocks after the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from nbext.tools.registry import Annotated

MOUNT = "/mnt/data"
"""Where the code sees its working directory (and the model is told files are)."""


@dataclass
class RunOutputs:
    """What the executor produced per run and the annotator has not placed yet."""

    images: dict[str, list[str]] = field(default_factory=dict)  # run -> image file ids
    files: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # run -> (path, file id)

    def forget(self, run_id: str) -> None:
        self.images.pop(run_id, None)
        self.files.pop(run_id, None)


class OutputLinks:
    """The annotator: ``link(run_id, message)`` places the run's figures and files."""

    def __init__(self, outputs: RunOutputs) -> None:
        self.outputs = outputs

    def link(self, run_id: str, message: Annotated) -> Annotated:
        images = self.outputs.images.pop(run_id, [])
        written = self.outputs.files.pop(run_id, [])
        if not images and not written:
            return message
        text = message.text
        annotations = list(message.annotations)
        for path, file_id in written:
            start = -1
            for shown in (f"sandbox:{MOUNT}/{path}", f"{MOUNT}/{path}"):
                start = text.find(shown)
                if start >= 0:
                    break
            if start < 0:
                shown = f"sandbox:{MOUNT}/{path}"
                name = PurePosixPath(path).name
                text += ("\n\n" if text else "") + f"[{name}]({shown})"
                start = len(text) - len(shown) - 1
            annotations.append(
                {
                    "type": "file_path",
                    "text": shown,
                    "start_index": start,
                    "end_index": start + len(shown),
                    "file_path": {"file_id": file_id},
                }
            )
        return Annotated(text, annotations, [*message.image_file_ids, *images])
