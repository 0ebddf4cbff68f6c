"""The run engine: run state machine, tool loop, truncation, run steps, events; no HTTP.

A run is created by :mod:`nbext.api.runs` and handed to :class:`~nbext.engine.loop.Runner`
on a worker thread; everything a run does to the store and to its event stream is here.
"""
