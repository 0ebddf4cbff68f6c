"""What ``%%assistant`` remembers in a kernel: names for assistants and threads.

Assistants are found by name through their metadata (``{"nbext_name": NAME}``),
so a kernel restart finds the same assistant on a persistent server instead of
creating a twin. The Assistants API has no "list threads" route, so threads
are remembered per kernel: a name, its id, and the runs made on it.

``%load_ext nbext`` creates the book, so this module imports the ``openai``
SDK only inside the methods that call the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nbext.client import model_id

if TYPE_CHECKING:
    import openai
    from openai.types.beta import Assistant

    from nbext.magics.run_fetch import FileCache
    from nbext.widgets.run_panel import RunPanel

NAME_KEY = "nbext_name"
DEFAULT_THREAD = "main"


@dataclass
class ThreadEntry:
    name: str
    id: str
    runs: list[str] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)
    """One ``{"label", "prompt_tokens", "completion_tokens"}`` per run, for the usage meter."""


@dataclass
class AssistantBook:
    """Name -> id maps and the kernel's current thread; ``client`` does the talking."""

    assistants: dict[str, str] = field(default_factory=dict)
    threads: dict[str, ThreadEntry] = field(default_factory=dict)
    current: str | None = None
    run_threads: dict[str, str] = field(default_factory=dict)
    """run id -> thread id: retrieving a run needs its thread."""
    submitted_by: dict[str, str] = field(default_factory=dict)
    """tool call id -> who submitted its output (shown on the step card)."""
    pending: tuple[str, str] | None = None
    """(thread id, run id) of a run stopped at requires_action by ``--manual``."""

    # -- assistants ----------------------------------------------------------

    def assistant(self, client: openai.OpenAI, name: str, settings: dict[str, Any]) -> Assistant:
        """The assistant called ``name``: found, updated if flags changed it, or created."""
        found = self._find_assistant(client, name)
        wanted = {k: v for k, v in settings.items() if v is not None}
        # Without --model, the server's model: one made while another model was
        # served (before `nbext model --use`) is moved to it, or its runs would fail.
        wanted.setdefault("model", model_id(client))
        if found is None:
            created = client.beta.assistants.create(name=name, metadata={NAME_KEY: name}, **wanted)
            self.assistants[name] = created.id
            return created
        changed = {k: v for k, v in wanted.items() if _differs(getattr(found, k, None), v)}
        if changed:
            found = client.beta.assistants.update(found.id, **changed)
        self.assistants[name] = found.id
        return found

    def _find_assistant(self, client: openai.OpenAI, name: str) -> Assistant | None:
        import openai

        known = self.assistants.get(name)
        if known:
            try:
                return client.beta.assistants.retrieve(known)
            except openai.NotFoundError:
                del self.assistants[name]
        for assistant in client.beta.assistants.list(limit=100, order="desc"):
            if (assistant.metadata or {}).get(NAME_KEY) == name:
                return assistant
        return None

    # -- threads ---------------------------------------------------------------

    def thread(self, client: openai.OpenAI, name: str | None) -> ThreadEntry:
        """The thread to use: ``None`` the current one, ``new`` a fresh one, a name or an id."""
        if name == "new":
            return self.new_thread(client)
        name = name or self.current or DEFAULT_THREAD
        entry = self.lookup(name)
        if entry is None:
            if name.startswith("thread_"):
                client.beta.threads.retrieve(name)  # 404 here if it does not exist
                entry = ThreadEntry(name, name)
            else:
                created = client.beta.threads.create(metadata={NAME_KEY: name})
                entry = ThreadEntry(name, created.id)
            self.threads[entry.name] = entry
        self.current = entry.name
        return entry

    def new_thread(self, client: openai.OpenAI) -> ThreadEntry:
        number = len(self.threads) + 1
        while f"t{number}" in self.threads:
            number += 1
        name = f"t{number}"
        created = client.beta.threads.create(metadata={NAME_KEY: name})
        entry = ThreadEntry(name, created.id)
        self.threads[name] = entry
        self.current = name
        return entry

    def lookup(self, name_or_id: str) -> ThreadEntry | None:
        if name_or_id in self.threads:
            return self.threads[name_or_id]
        return next((t for t in self.threads.values() if t.id == name_or_id), None)

    def remember_run(self, entry: ThreadEntry, run_id: str) -> None:
        """A run made on ``entry`` (retrieving a run later needs its thread)."""
        self.run_threads[run_id] = entry.id
        if run_id not in entry.runs:
            entry.runs.append(run_id)

    def forget(self, entry: ThreadEntry) -> None:
        self.threads.pop(entry.name, None)
        if self.current == entry.name:
            self.current = None

    def last_run(self) -> str | None:
        """The current thread's latest run, else the kernel's latest."""
        current = self.threads.get(self.current or "")
        if current is not None and current.runs:
            return current.runs[-1]
        return next(reversed(self.run_threads), None)


def _differs(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, list):  # tools: compare types and function names
        return _tool_keys(current or []) != _tool_keys(wanted)
    return current != wanted


def _tool_keys(tools: list[Any]) -> list[str]:
    keys = []
    for tool in tools:
        data = tool if isinstance(tool, dict) else tool.model_dump()
        keys.append(f"{data['type']}:{(data.get('function') or {}).get('name', '')}")
    return sorted(keys)


@dataclass
class AssistantSession:
    """Everything the assistant magics keep between cells of one kernel."""

    book: AssistantBook = field(default_factory=AssistantBook)
    last_panel: RunPanel | None = None
    """The views of the last run shown (tests and curious learners read their state)."""
    _files: FileCache | None = None

    def files(self, client: openai.OpenAI) -> FileCache:
        """File names and images, fetched once per server (a restart means a new client)."""
        from nbext.magics.run_fetch import FileCache  # the SDK: on first use, not at load

        if self._files is None or self._files.client is not client:
            self._files = FileCache(client)
        return self._files
