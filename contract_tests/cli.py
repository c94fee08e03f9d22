"""evolink-contract: check a server, a client program or a webhook handler against the contract.

Every subcommand builds a :class:`~contract_tests.results.Report`, prints it, optionally
writes it as JUnit XML, and exits 1 when any check failed (2 for usage errors).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

import httpx
import requests

from mock_server import __version__
from mock_server.domain.scenarios import ScenarioError
from mock_server.settings import OneLineParser, argparse_type, ca_bundle, callback_host, readable_file
from mock_server.spec import SpecError

from .budget import default_max_credits
from .callbacks import CallbackOptions, rehearse
from .client import ClientOptions, check_client
from .har import HarError, check_har
from .reporting import junit, text
from .results import Report
from .server.pipeline import PHASES, ServerOptions, check_server


def _server(args: argparse.Namespace) -> Report:
    max_credits = args.max_credits if args.max_credits is not None else default_max_credits(
        args.base_url)
    return check_server(ServerOptions(
        base_url=args.base_url, api_key=args.api_key, other_api_key=args.other_api_key,
        max_credits=max_credits, max_examples=args.max_examples, max_wait=args.max_wait,
        phases=tuple(args.phases.split(",")), spec=args.spec))


def _client(args: argparse.Namespace) -> Report:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SystemExit("evolink-contract client: give the client command after --")
    return check_client(ClientOptions(
        command=tuple(command), scenarios=tuple(args.scenario), speed=args.speed,
        min_poll_interval=args.min_poll_interval, timeout=args.timeout,
        allow_callback_hosts=tuple(args.allow_callback_hosts), callback_ca=args.callback_ca,
        unknown_fields=args.unknown_fields))


def _callbacks(args: argparse.Namespace) -> Report:
    return rehearse(CallbackOptions(url=args.to, timeout=args.timeout,
                                    callback_ca=args.callback_ca))


def _har(args: argparse.Namespace) -> Report:
    return check_har(args.file, spec=args.spec)


def _phases(text_value: str) -> str:
    unknown = set(text_value.split(",")) - set(PHASES)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown phase {min(unknown)!r}; "
                                         f"choose from {','.join(PHASES)}")
    return text_value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="evolink-contract", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="subcommand", required=True)

    server = commands.add_parser("server", help="check a server (the mock or the real service)")
    server.add_argument("--base-url", required=True)
    server.add_argument("--api-key", default=os.environ.get("EVOLINK_API_KEY"),
                        required="EVOLINK_API_KEY" not in os.environ,
                        help="bearer key (default: $EVOLINK_API_KEY)")
    server.add_argument("--other-api-key", help="a second key, to check that it cannot read "
                        "the first key's task (403)")
    server.add_argument("--max-credits", type=float, help="cap on credits spent by valid "
                        "creates (default: unlimited on loopback, 0 elsewhere)")
    server.add_argument("--max-examples", type=int, default=100,
                        help="generated cases per operation in the fuzzing phases (default: 100)")
    server.add_argument("--max-wait", type=float, default=600.0,
                        help="longest wait for one task to finish, in seconds (default: 600)")
    server.add_argument("--spec", metavar="FILE",
                        help="the OpenAPI document to check against (default: the one the "
                        "server publishes at /openapi.json, else the shipped spec)")
    server.add_argument("--phases", type=_phases, default=",".join(PHASES),
                        help=f"comma-separated subset of {','.join(PHASES)}")
    server.set_defaults(handler=_server)

    client = commands.add_parser("client", help="check a client program against the strict mock")
    client.add_argument("--scenario", action="append", default=[], type=argparse_type(readable_file),
                        help="scenario YAML with scripted faults (repeatable)")
    client.add_argument("--min-poll-interval", type=float, default=1.0,
                        help="least real seconds between two reads of one task (default: 1)")
    client.add_argument("--timeout", type=float, default=300.0,
                        help="longest run of the client command, in seconds (default: 300)")
    client.add_argument("--speed", type=float, default=60.0,
                        help="mock seconds per real second (default: 60: a 2-minute task "
                        "takes 2 s)")
    client.add_argument("--allow-callback-host", dest="allow_callback_hosts", action="append",
                        default=[], metavar="HOST[:PORT]", type=argparse_type(callback_host),
                        help="let the mock send the client's callbacks to this (internal) host, "
                        "over http or https (repeatable), as on `evolink-mock serve`")
    client.add_argument("--unknown-fields", choices=("reject", "warn"), default="reject",
                        help="the mock's handling of fields a model does not take: reject (400) "
                        "or warn (accepted, as the real API likely does); either way the "
                        "verdict fails a client that sends them (default: reject)")
    client.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG ...]")
    client.set_defaults(handler=_client)

    callbacks = commands.add_parser("callbacks", help="rehearse a webhook handler")
    callbacks.add_argument("--to", required=True, help="the handler's URL")
    callbacks.add_argument("--timeout", type=float, default=10.0,
                           help="seconds the handler has to answer (default: 10, as the vendor)")
    callbacks.set_defaults(handler=_callbacks)

    for sub in (client, callbacks):   # the commands that send callbacks, possibly over HTTPS
        sub.add_argument("--callback-ca", metavar="FILE", type=argparse_type(ca_bundle),
                         help="PEM CA bundle trusted for "
                         "HTTPS callbacks besides the system's (see `evolink-mock certs`), as on "
                         "`evolink-mock serve`")
    har = commands.add_parser("har", help="check recorded traffic (a HAR file) offline",
                              description="Judge every exchange with the vendor API in a HAR "
                              "file: the request as the mock validates it, the answer against "
                              "the spec. Any HAR 1.2 file: evolink-mock proxy --record, a "
                              "browser's export, another tool's.")
    har.add_argument("file", metavar="FILE.har")
    har.add_argument("--spec", metavar="FILE", help="OpenAPI document to check against (default: "
                     "the shipped spec), e.g. the one a mock serves with --spec")
    har.set_defaults(handler=_har)

    for sub in (server, client, callbacks, har):
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
