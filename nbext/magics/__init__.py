"""The IPython magics: ``%%chat`` / ``%nbext`` (chat.py) and ``%%assistant`` (assistant.py).

The assistant side needs a few helpers of its own: a name book for assistants
and threads, Python functions as tools, the live run panel, and fetching
what a run showed the model.
"""
