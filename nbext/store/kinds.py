"""Which SDK type lives in which table (and what a 404 calls it)."""

from __future__ import annotations

from openai.types.beta import Assistant, Thread
from openai.types.beta.threads import Message, Run
from openai.types.beta.threads.runs import RunStep

from nbext.store import tables
from nbext.store.store import Kind

ASSISTANTS = Kind(tables.assistants, Assistant, "assistant")
THREADS = Kind(tables.threads, Thread, "thread")
MESSAGES = Kind(tables.messages, Message, "message")
RUNS = Kind(tables.runs, Run, "run")
RUN_STEPS = Kind(tables.run_steps, RunStep, "run step")
