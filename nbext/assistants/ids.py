"""Object ids shaped like OpenAI's (``asst_…``, ``thread_…``, ``msg_…``, ``run_…``, ``step_…``).

Learners recognise an object's kind from its prefix, and code that parses
ids (rare, but it exists) keeps working.
"""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))
