"""``%nbext``: what the kit talks to, and switching the backend.

Both go to nbext's own admin routes (:mod:`nbext.protocol` names them)
through the same ``openai`` client as every other call, so the key, the base
URL and the error handling are the ones the learner's code uses.
"""

from __future__ import annotations

from dataclasses import fields

from IPython.display import display

from nbext.client import shared_client
from nbext.config import CodeLimits, Settings
from nbext.doctor import last_summary
from nbext.magics.failures import MagicError
from nbext.magics.parsers import NbextArgs
from nbext.protocol import BACKEND_PATH, STATUS_PATH, TOKEN_COUNTING_IN_WORDS
from nbext.widgets.listings import status_bundle


def nbext(args: NbextArgs) -> None:
    """``%nbext [status]`` shows the facts; ``%nbext backend TARGET`` switches, then shows."""
    if args.command == "backend":
        assert args.target is not None  # the parser insists on one
        switch_backend(args.target, args.key, args.model)
    show_status()


def show_status() -> None:
    settings = Settings.from_env()
    client = shared_client.get()
    facts = client.get(STATUS_PATH, cast_to=object)
    assert isinstance(facts, dict)
    if settings.server_url:
        where = f"shared: {settings.server_url}"
    else:
        where = f"{client.base_url} (pid {facts.get('pid')}, shared by your kernels)"
    rows = {
        "backend": f"{facts.get('backend')}; model {facts.get('model')}",
        "server": where,
        "cache": str(settings.home),
        "database": settings.db_url,
    }
    if facts.get("threads"):
        rows["threads"] = str(facts["threads"])
    if facts.get("token_counting"):
        method = facts["token_counting"]
        rows["token counting"] = TOKEN_COUNTING_IN_WORDS.get(method, method)
    if facts.get("model_aliases"):
        rows["model names"] = str(facts["model_aliases"])
    limits = facts.get("code_limits")
    if isinstance(limits, dict):
        known = {f.name for f in fields(CodeLimits)}  # a newer server may add limits
        kept = {name: value for name, value in limits.items() if name in known}
        rows["code limits"] = CodeLimits(**kept).describe()
    rows["doctor"] = last_summary(settings)  # the last `nbext doctor` verdict; runs no check
    display(status_bundle(rows), raw=True)


def switch_backend(target: str, key: str | None, model: str | None) -> None:
    settings = Settings.from_env()
    if settings.server_url:
        raise MagicError(
            f"this kernel uses the shared server at {settings.server_url}; its backend is "
            "chosen where `nbext serve` runs (NBEXT_BACKEND_URL there)."
        )
    # The backend lives in the server process (shared by this user's kernels).
    shared_client.get().put(
        BACKEND_PATH, body={"target": target, "key": key, "model": model}, cast_to=object
    )
