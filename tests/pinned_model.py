"""The embedded model the tests run on: the 0.5B, whatever the default is.

What the tests pin (decisions and their margins, answers that come, token
counts) was measured on it, and it is the faster one. ``tests/conftest.py``
sets ``NBEXT_MODEL`` to it for the session, so every server and kernel a test
starts serves it; the tutorials run on the default model, as a user's do
(``tests/nbval_outputs.py`` takes the pin out of their kernels' environment).
The 1.5B has tests of its own in ``tests/test_models.py``.
"""

from __future__ import annotations

from nbext.backends.models import QWEN_CODER_0_5B

TEST_MODEL = QWEN_CODER_0_5B
MODEL_ID = TEST_MODEL.id
