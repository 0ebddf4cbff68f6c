"""``nbext``: the command line (``serve`` a shared server, prepare the ``model``)."""

from __future__ import annotations

import argparse
import sys

from nbext.config import Settings
from nbext.errors import APIError

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _serve(args: argparse.Namespace) -> int:
    from nbext.backends import backend_from_settings
    from nbext.server.app import build_app
    from nbext.server.auth import parse_keys
    from nbext.server.runner import serve_forever

    settings = Settings.from_env()
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
    app = build_app(settings, backend=backend, api_keys=keys)
    serve_forever(app, args.host, args.port)
    return 0


def _model(_: argparse.Namespace) -> int:
    from nbext.backends.embedded import EmbeddedBackend

    settings = Settings.from_env()
    backend = EmbeddedBackend(settings.model_dir)
    backend.load()
    print(f"embedded model ready: {backend.description}")
    print(f"file: {settings.model_dir}")
    return 0


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
    serve.set_defaults(run=_serve)
    model = commands.add_parser("model", help="assemble, verify and load the embedded model")
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
