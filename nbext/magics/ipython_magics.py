"""The magics IPython registers: ``%%chat``, ``%nbext``, ``%%assistant``, ``%assistant``.

Each method does three things and no more: read its line into typed
arguments (:mod:`nbext.magics.parsers`), hand them to the command's handler
(:mod:`~nbext.magics.chat`, :mod:`~nbext.magics.status`,
:mod:`~nbext.magics.assistant`, :mod:`~nbext.magics.threads`), and let
:func:`~nbext.magics.failures.reported` turn a failure into one red line.

``%load_ext nbext`` imports this module; the handlers import the ``openai``
SDK and the views (about a second), so each is imported by the first magic
that needs it, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class

from nbext.client import shared_client
from nbext.magics import parsers
from nbext.magics.assistant_book import AssistantBook, AssistantSession
from nbext.magics.failures import reported

if TYPE_CHECKING:
    import openai

    from nbext.magics.chat import UsageRows
    from nbext.widgets.run_panel import RunPanel


@magics_class
class NbextMagics(Magics):
    """``%%chat`` and ``%nbext``; the one client is :data:`nbext.client.shared_client`."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.meters: UsageRows = {}
        """``--history`` name -> its calls' tokens, for ``--meter``."""

    @property
    def client(self) -> openai.OpenAI:
        return shared_client.get()

    @parsers.documented(parsers.CHAT)
    @cell_magic
    def chat(self, line: str, cell: str) -> None:
        with reported():
            args = parsers.parse_chat(line)
            # Called right here in the magic, so that depth=2 is the frame that ran the
            # cell: ``{name}`` sees the learner's variables (in every magic alike).
            text = self.shell.var_expand(cell.strip(), depth=2)
            from nbext.magics.chat import chat

            chat(self.shell, args, text, self.meters)

    @parsers.documented(parsers.NBEXT)
    @line_magic
    def nbext(self, line: str) -> None:
        with reported():
            args = parsers.parse_nbext(line)
            from nbext.magics.status import nbext

            nbext(args)


@magics_class
class AssistantMagics(Magics):
    """``%%assistant`` and ``%assistant COMMAND``; one session (names, last panel) per kernel."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.session = AssistantSession()

    @property
    def client(self) -> openai.OpenAI:
        return shared_client.get()

    @property
    def book(self) -> AssistantBook:
        return self.session.book

    @property
    def last_panel(self) -> RunPanel | None:
        """The views of the last run shown (tests and curious learners read their state)."""
        return self.session.last_panel

    @parsers.documented(parsers.ASSISTANT)
    @line_cell_magic
    def assistant(self, line: str, cell: str | None = None) -> None:
        with reported():
            if cell is None:
                command = parsers.parse_assistant_line(line)
                from nbext.magics.threads import line_command

                line_command(self.session, command)
                return
            args = parsers.parse_assistant_cell(line)
            text = self.shell.var_expand(cell.strip(), depth=2)
            prompt = parsers.cell_message("%%assistant", text)
            from nbext.magics.assistant import assistant

            assistant(self.session, self.shell, args, prompt)
