"""A measuring process spoken to in JSON lines: the plumbing the speed benchmarks share.

``bench_portability.py`` (one process per llama.cpp build and thread count)
and ``bench_models.py`` (one per model and thread count) each start a child
that loads a model once, says ``{"ready": {...facts}}``, then answers one JSON
request per line with one JSON line. Measuring in a child keeps each build or
model in a process of its own (a build that does not suit the CPU crashes
there, not here) and lets the parent interleave requests between children.

Standard library only: ``bench_portability.py`` runs without nbext installed.
"""

from __future__ import annotations

import contextlib
import json
import signal
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def describe_exit(code: int | None) -> str:
    """A child's exit status in words (a crash shows as the signal's name)."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def rate(result: Mapping[str, Any], kind: str) -> float:
    """Tokens/s of one measurement: ``prompt`` processing, or generation from the
    first token to the last (n tokens, n - 1 gaps: prompt processing left out)."""
    if kind == "prompt":
        return result["prompt_tokens"] / result["prompt_s"]
    return (result["gen_tokens"] - 1) / result["first_to_last_s"]


@dataclass
class MeasuringChild:
    """One child process; ``failure`` says how it died, once it has."""

    proc: subprocess.Popen[str] | None = field(default=None, init=False)
    facts: dict[str, Any] = field(default_factory=dict, init=False)
    failure: str | None = field(default=None, init=False)
    results: list[dict[str, Any]] = field(default_factory=list, init=False)

    def spawn(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """Start the child and wait for its ``ready`` line."""
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(env) if env is not None else None,
        )
        reply = self._read()
        if reply is not None:
            self.facts = reply["ready"]

    def ask(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The child's answer to ``request``; None once it has died."""
        if self.failure or self.proc is None or self.proc.stdin is None:
            return None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        return self._read()

    def _read(self) -> dict[str, Any] | None:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line:
            return json.loads(line)
        code = self.proc.wait()
        stderr = self.proc.stderr.read() if self.proc.stderr else ""
        self.failure = describe_exit(code) + (f": {stderr.strip()[-300:]}" if stderr else "")
        return None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def median(self, kind: str) -> float:
        """Median tokens/s over this child's measurements (see :func:`rate`)."""
        return statistics.median(rate(result, kind) for result in self.results)
