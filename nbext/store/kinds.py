"""Which SDK type lives in which table (and what a 404 calls it)."""

from __future__ import annotations

from openai.types import FileObject, VectorStore
from openai.types.beta import Assistant, Thread
from openai.types.beta.threads import Message, Run
from openai.types.beta.threads.runs import RunStep
from openai.types.vector_stores import VectorStoreFile, VectorStoreFileBatch

from nbext.store import tables
from nbext.store.records import FileSearchContents, RunPrompt, StoredContext
from nbext.store.store import Kind

ASSISTANTS = Kind(tables.assistants, Assistant, "assistant")
THREADS = Kind(tables.threads, Thread, "thread")
MESSAGES = Kind(tables.messages, Message, "message")
RUNS = Kind(tables.runs, Run, "run")
RUN_STEPS = Kind(tables.run_steps, RunStep, "run step")

FILES = Kind(tables.files, FileObject, "file")
VECTOR_STORES = Kind(tables.vector_stores, VectorStore, "vector store")
VECTOR_STORE_FILES = Kind(tables.vector_store_files, VectorStoreFile, "vector store file")
VECTOR_STORE_FILE_BATCHES = Kind(
    tables.vector_store_file_batches, VectorStoreFileBatch, "vector store file batch"
)

# nbext's own objects (:mod:`nbext.store.records`): what a run showed the model.
PROMPTS = Kind(tables.run_prompts, RunPrompt, "run prompt")
CONTEXTS = Kind(tables.run_contexts, StoredContext, "run context")
FILE_SEARCH_CONTENTS = Kind(tables.file_search_contents, FileSearchContents, "file search call")
