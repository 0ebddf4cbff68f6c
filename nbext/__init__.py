"""nbext: Chat Completions and Assistants, side by side in Jupyter.

``%load_ext nbext`` registers the magics. Loading is cheap on purpose: the
server and the model start on the first magic that needs them.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    from nbext.magics.assistant import AssistantMagics
    from nbext.magics.chat import NbextMagics

    ipython.register_magics(NbextMagics)
    ipython.register_magics(AssistantMagics)
