"""The OpenAI-compatible API, one package per resource (as vLLM lays out its entrypoints).

Each package has its ``router`` (HTTP: parse at the edge, call, answer), its
``protocol`` (what the endpoints accept and return beyond the SDK's own
types) and its ``service`` (plain Python over the store and the run engine,
callable in-process). :mod:`.services` builds them all for one server;
:mod:`.routers` lists the routers in the order the app includes them.
"""
