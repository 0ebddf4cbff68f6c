"""Function tools: executed by the client, so the server only records what it was sent.

A run whose model calls a function pauses in ``requires_action``; the
client runs the function and submits ``tool_outputs``. :mod:`.outputs`
checks them against the calls waiting and writes them where the run reads
them back (its last prompt record, for the next model call; its run steps).
"""
