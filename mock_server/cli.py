"""``evolink-mock``: serve the mock, and rehearse callbacks (trigger, replay, certs).

The server (uvicorn, Connexion and the app: ~0.6 s of imports) and the spec differ are imported
by the commands that use them, after the flags are read: a bad flag or variable is answered
without them, and so is ``--help``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from . import flag_values
from . import settings as settings_module
from .banners import banner, proxy_banner
from .logs import configure_logging
from .models import check as check_models
from .models import model_names
from .rehearsal import DEFAULT_ERROR_CODE, DEFAULT_URL, FAILURE_CODES, SPEC, certs, replay, trigger
from .settings import SettingError, Settings
from .spec import VENDOR_SPEC, SpecError, load_spec
from .store import is_postgresql
from .version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = settings_module.OneLineParser(
        prog="evolink-mock",
        description="Local, OpenAPI-driven mock of the EvoLink video-generation API.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser(
        "serve", help="Serve the mock API.",
        description="Serve the mock API. Every flag can also be set by the environment "
                    "variable shown in brackets.")
    settings_module.add_arguments(serve_parser, "serve")

    proxy_parser = commands.add_parser(
        "proxy", help="Forward the vendor API to the real service (or any upstream), checking "
                      "both ways against the spec.",
        description="Forward /v1/ to --upstream with the caller's own Authorization. Requests "
                    "the spec refuses are answered here and not forwarded (unless "
                    "--forward-invalid); every answer is checked against the spec. Violations "
                    "are in GET /_mock/journal, on the dashboard and in the summary printed on "
                    "exit. Every flag can also be set by the environment variable in brackets.")
    settings_module.add_arguments(proxy_parser, "proxy")

    trigger_parser = commands.add_parser(
        "trigger", help="Send one callback now, under the mock's URL policy and retry schedule.",
        description="POST one realistic task document (as GET /v1/tasks/{id} answers it at the "
                    "end) to URL, retrying after 1, 2 and 4 real seconds. Exit 0 if delivered.")
    trigger_parser.add_argument("--to", required=True, metavar="URL", help="The callback URL.")
    trigger_parser.add_argument("--status", required=True, choices=("completed", "failed"))
    models = model_names(SPEC)
    trigger_parser.add_argument("--model", choices=models, default=models[0])
    trigger_parser.add_argument("--error-code", choices=FAILURE_CODES,
                                help=f"Task failure code with --status failed "
                                     f"(default: {DEFAULT_ERROR_CODE}).")
    trigger_parser.add_argument("--allow-callback-host", dest="allow_callback_hosts",
                                action="append", default=[], metavar="HOST[:PORT]",
                                type=settings_module.argparse_type(flag_values.callback_host),
                                help="Allow this (internal) host, over http or https (repeatable).")
    trigger_parser.add_argument("--callback-ca", metavar="FILE",
                                type=settings_module.argparse_type(flag_values.ca_bundle),
                                help="PEM CA bundle trusted in addition to the system's.")

    replay_parser = commands.add_parser(
        "replay", help="Ask a running mock to send a callback delivery again.")
    replay_parser.add_argument("delivery_id")
    replay_parser.add_argument("--url", default=DEFAULT_URL, help=f"The mock (default: {DEFAULT_URL}).")
    replay_parser.add_argument("--admin-token", help="X-Mock-Admin-Token, if the mock requires one.")

    spec_parser = commands.add_parser("spec", help="Work with spec documents.")
    spec_commands = spec_parser.add_subparsers(dest="spec_command", required=True)
    diff_parser = spec_commands.add_parser(
        "diff", help="What changed between two OpenAPI documents (3.0 or 3.1), for a client.",
        description="Compare two OpenAPI documents (YAML or JSON, 3.0 or 3.1): operations, "
                    "models, request fields, required, enums, ranges, lengths, defaults, "
                    "response fields and error codes, each marked breaking or not for a "
                    "client. Exit 1 when something breaking changed, 0 otherwise, 2 when a "
                    "document cannot be read.")
    diff_parser.add_argument("old", help="The document your client was written against.")
    diff_parser.add_argument("new", help="The document to compare it with.")
    diff_parser.add_argument("--json", action="store_true", help="Print the changes as JSON.")
    diff_parser.add_argument("--model", action="append", default=[], metavar="NAME",
                             help="Only rows about this model and the other operations "
                                  "(repeatable), e.g. to compare with a one-model vendor page.")

    certs_parser = commands.add_parser(
        "certs", help="Write a throw-away CA and a localhost certificate for HTTPS callbacks.")
    certs_parser.add_argument("directory", type=Path)
    return parser


def spec_diff(args: argparse.Namespace) -> int:
    from . import specdiff

    try:
        old, new = load_spec(args.old), load_spec(args.new)
        changes = specdiff.diff(old, new)
    except SpecError as exc:
        print(f"evolink-mock spec diff: {exc}", file=sys.stderr)
        return 2
    if args.model:
        wanted = {f"model {name}" for name in args.model}
        changes = [c for c in changes if not c.where.startswith("model ") or c.where in wanted]
    print(specdiff.as_json(changes) if args.json else specdiff.table(changes))
    return 1 if any(change.breaking for change in changes) else 0


def spec_problem(config: settings_module.Settings) -> str | None:
    """What keeps the served document from running, in one line (checked before any worker
    starts, so a bad x-mock block stops ``serve`` with its message and exit 2)."""
    try:
        problems = check_models(load_spec(config.spec))
    except SpecError as exc:
        return str(exc)
    if problems:
        return f"{config.spec or VENDOR_SPEC}: {problems[0]}"
    return None


def unreachable_store(config: Settings) -> str | None:
    """Why a PostgreSQL ``--state`` cannot be used, checked once before serving, so a wrong
    URL or a server that is down ends the start with one line rather than a traceback."""
    if config.state is None or not is_postgresql(config.state):
        return None
    from .store.postgresql_connections import unreachable

    return unreachable(config.state)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "proxy":
        config = settings_module.from_args(args)
        problem = config.proxy_problem() or spec_problem(config)
        if problem:
            print(f"evolink-mock: {problem}", file=sys.stderr)
            return 2
        configure_logging(config)
        print(proxy_banner(config), flush=True)
        from .foreground import serve_proxy

        try:
            return serve_proxy(config)
        except OSError as exc:       # --record in a directory that does not exist, say
            print(f"evolink-mock: {exc}", file=sys.stderr)
            return 2
    if args.command == "serve":
        try:
            config = settings_module.from_args(args)
        except SettingError as exc:
            print(f"evolink-mock: {exc}", file=sys.stderr)
            return 2
        problem = config.problem() or spec_problem(config) or unreachable_store(config)
        if problem:
            print(f"evolink-mock: {problem}", file=sys.stderr)
            return 2
        configure_logging(config)
        from .foreground import serve

        def announce(port: int) -> None:   # once bound: the banner names the real port
            print(banner(replace(config, port=port)), flush=True)

        try:
            return serve(config, announce)
        except (SettingError, SpecError) as exc:
            print(f"evolink-mock: {exc}", file=sys.stderr)
            return 2
    if args.command == "spec":
        return spec_diff(args)
    return {"trigger": trigger, "replay": replay, "certs": certs}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
