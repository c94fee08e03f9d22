"""evolink-contract: check a server, a client program or a webhook handler against the contract.

Every subcommand builds a :class:`~contract_tests.results.Report`, prints it, optionally
writes it as JUnit XML, and exits 1 when any check failed (2 for usage errors).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

import httpx
import requests

from mock_server import __version__
from mock_server.domain.scenarios import ScenarioError
from mock_server.settings import OneLineParser
from mock_server.spec import SpecError

from .budget import default_max_credits
from .callbacks import CallbackOptions, rehearse
from .client import ClientOptions, check_client
from .har import HarError, check_har
from .options import add_flags, from_args
from .reporting import junit, text
from .results import Report
from .server.pipeline import ServerOptions, check_server


def _server(args: argparse.Namespace) -> Report:
    options = from_args(ServerOptions, args)
    if options.max_credits is None:     # the flag left out: a cap only off loopback
        options = replace(options, max_credits=default_max_credits(options.base_url))
    return check_server(options)


def _client(args: argparse.Namespace) -> Report:
    options = from_args(ClientOptions, args)
    if not options.command:
        raise SystemExit("evolink-contract client: give the client command after --")
    return check_client(options)


def _callbacks(args: argparse.Namespace) -> Report:
    return rehearse(from_args(CallbackOptions, args))


def _har(args: argparse.Namespace) -> Report:
    return check_har(args.file, spec=args.spec)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="evolink-contract", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="subcommand", required=True)
    runners = [("server", "check a server (the mock or the real service)", ServerOptions, _server),
               ("client", "check a client program against the strict mock", ClientOptions,
                _client),
               ("callbacks", "rehearse a webhook handler", CallbackOptions, _callbacks)]
    for name, summary, options, handler in runners:
        sub = commands.add_parser(name, help=summary)
        add_flags(sub, options)
        sub.set_defaults(handler=handler)

    har = commands.add_parser("har", help="check recorded traffic (a HAR file) offline",
                              description="Judge every exchange with the vendor API in a HAR "
                              "file: the request as the mock validates it, the answer against "
                              "the spec. Any HAR 1.2 file: evolink-mock proxy --record, a "
                              "browser's export, another tool's.")
    har.add_argument("file", metavar="FILE.har")
    har.add_argument("--spec", metavar="FILE", help="OpenAPI document to check against (default: "
                     "the shipped spec), e.g. the one a mock serves with --spec")
    har.set_defaults(handler=_har)

    for sub in commands.choices.values():
        sub.add_argument("--junit", metavar="FILE", help="also write the report as JUnit XML")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], Report] = args.handler
    try:
        report = handler(args)
    except (httpx.HTTPError, requests.RequestException, ScenarioError, SpecError, OSError,
            HarError) as exc:
        print(f"evolink-contract {args.subcommand}: {exc}", file=sys.stderr)
        return 2
    text.render(report, sys.stdout)
    if args.junit:
        junit.write(report, args.junit)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
