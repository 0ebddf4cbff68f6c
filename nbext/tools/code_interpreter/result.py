"""What one execution returns, and the helpers that keep it small and plain.

The result is read by a language model (``logs``) and by the runtime (images
and files become run step outputs), so text is stripped of terminal colours
and cut to a known size rather than passed on as the kernel produced it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["ok", "error", "timeout", "killed"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")


def strip_ansi(text: str) -> str:
    """Remove colour and cursor escapes (IPython tracebacks are coloured)."""
    return _ANSI.sub("", text)


@dataclass(frozen=True)
class OutputFile:
    """A file the code created or changed in its working directory."""

    path: str
    """Relative to the working directory, with ``/`` separators."""
    data: bytes


@dataclass
class ExecutionResult:
    """Everything one ``execute`` call produced.

    ``status`` is ``ok``, ``error`` (the code raised; traceback in ``logs``),
    ``timeout`` (wall-clock limit) or ``killed`` (a limit ended the
    interpreter). ``error`` is one human-readable line for anything but
    ``ok``; ``state_lost`` says the next execution starts from a fresh
    interpreter (variables and imports gone, files kept).
    """

    status: Status
    logs: str = ""
    images: list[bytes] = field(default_factory=list)
    files: list[OutputFile] = field(default_factory=list)
    error: str | None = None
    state_lost: bool = False
    duration: float = 0.0


class LogBuffer:
    """Collects output up to a byte budget and remembers how much it dropped.

    The budget is enforced while collecting, so a cell printing gigabytes
    cannot grow the server's memory.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._parts: list[str] = []
        self._size = 0
        self.dropped = 0

    def add(self, text: str) -> None:
        if not text:
            return
        data = text.encode("utf-8", "replace")
        room = self.limit - self._size
        if room <= 0:
            self.dropped += len(data)
            return
        if len(data) > room:
            self.dropped += len(data) - room
            data = data[:room]
        self._parts.append(data.decode("utf-8", "ignore"))
        self._size += len(data)

    def text(self) -> str:
        out = strip_ansi("".join(self._parts))
        if self.dropped:
            if not out.endswith("\n"):
                out += "\n"
            out += (
                f"[output truncated: {self.dropped} more bytes not shown; "
                f"the limit is {self.limit // 1024} KB]"
            )
        return out
