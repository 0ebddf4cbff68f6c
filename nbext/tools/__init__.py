"""Server-side tools of a run, and the registry through which the engine calls them.

``registry`` (the :class:`~nbext.tools.registry.ToolExecutor` protocol, the
annotators, the hooks), then one package per tool: ``code_interpreter`` and
``file_search`` (the engine underneath, an ``executor`` and an ``annotator``)
and ``function`` (executed by the client: what the server records of it).
``builtin`` wires the two server-side tools into a registry; ``resources``
wires files to tools. Nothing here imports the run engine.
"""
