"""nbext: Chat Completions and Assistants, side by side in Jupyter.

``%load_ext nbext`` registers the magics and, in the background, finds or
starts this user's local server process (the model runs there, never in the
kernel: see :mod:`nbext.local_server`). Loading returns at once; the first
magic waits for the server only if it is not ready yet.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    # Only the magics' front (parsers, no SDK, no views): see nbext.magics.
    from nbext.client import warm_up
    from nbext.magics.ipython_magics import AssistantMagics, NbextMagics

    ipython.register_magics(NbextMagics)
    ipython.register_magics(AssistantMagics)
    warm_up()
