"""``evolink-mock``: serve the mock (more subcommands join as they are built)."""

from __future__ import annotations

import argparse
import sys

from . import settings as settings_module
from .server import serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evolink-mock",
        description="Local, OpenAPI-driven mock of the EvoLink video-generation API.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser(
        "serve", help="Serve the mock API.",
        description="Serve the mock API. Every flag can also be set by the environment "
                    "variable shown in brackets.")
    settings_module.add_arguments(serve_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        config = settings_module.from_args(args)
        print(f"evolink-mock serving http://{config.host}:{config.port} "
              f"(clock: {config.clock}{'' if config.manual_clock else f' x{config.speed:g}'}; "
              f"docs: /ui/, spec: /openapi.json)", flush=True)
        serve(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
