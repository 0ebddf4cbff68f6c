"""Object ids shaped like OpenAI's (``asst_…``, ``thread_…``, ``msg_…``, ``run_…``, ``file-…``).

Learners recognise an object's kind from its prefix, and code that parses
ids (rare, but it exists) keeps working.
"""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, *, length: int = 24, separator: str = "_") -> str:
    return prefix + separator + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_file_id() -> str:
    """``file-`` and 22 letters/digits, the shape OpenAI's file ids have."""
    return new_id("file", length=22, separator="-")
