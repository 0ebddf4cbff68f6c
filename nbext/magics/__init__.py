"""The IPython magics: ``%%chat``, ``%nbext``, ``%%assistant`` and ``%assistant COMMAND``.

Parsing apart from doing, and the doing loaded on first use:

- ``ipython_magics``: the classes IPython registers; each magic reads its line,
  hands the arguments to a handler and reports a failure as one red line
- ``parsers``: a line -> typed, validated arguments; the flags and the help
- ``failures``: ``MagicError`` and how a failed call is said in one line
- handlers, imported by the first magic that needs them (they import the
  ``openai`` SDK and the views): ``chat`` (``%%chat``), ``status``
  (``%nbext``), ``assistant`` (``%%assistant``), ``threads`` (``%assistant
  COMMAND``)
- what the assistant handlers share: ``assistant_book`` (names and kernel
  state), ``run_stream`` (a run's stream -> the views, the function loop),
  ``run_fetch`` (a run's steps, context and prompts, fetched afterwards),
  ``function_tools`` (Python functions as function tools)

The magics talk to the server only through :mod:`nbext.client`; they import
nothing of the server, the runtime, the store, the tools or the backends
(``tests/test_layers.py`` checks it). The views live in :mod:`nbext.widgets`.
"""
