"""``evolink-mock``: serve the mock, and rehearse callbacks (trigger, replay, certs)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import httpx
import trustme

from . import __version__, specdiff
from . import settings as settings_module
from .callbacks.delivery import DELIVERED, PENDING, Attempt, Delivery
from .callbacks.dispatcher import terminal_time
from .callbacks.sender import Sender
from .domain import lifecycle
from .domain.scenarios import Action
from .errors import ApiError
from .models import check as check_models
from .models import model_names
from .server import serve, serve_proxy
from .service import MockService
from .settings import SettingError, Settings
from .spec import VENDOR_SPEC, SpecError, load_spec
from .store import is_postgresql, resolved

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_ERROR_CODE = "service_error"
TRIGGER_PROMPT = "A paper boat drifting down a rain-soaked street, cinematic"
SPEC = load_spec()
FAILURE_CODES = SPEC["components"]["schemas"]["TaskError"]["properties"]["code"]["enum"]


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
                                type=settings_module.argparse_type(settings_module.callback_host),
                                help="Allow this (internal) host, over http or https (repeatable).")
    trigger_parser.add_argument("--callback-ca", metavar="FILE",
                                type=settings_module.argparse_type(settings_module.ca_bundle),
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


def trigger(args: argparse.Namespace) -> int:
    """Build the task with the mock's own service (so the document is the real thing)."""
    if args.error_code and args.status != "failed":
        print("--error-code goes with --status failed", file=sys.stderr)
        return 2
    settings = Settings(clock="manual", allow_callback_hosts=tuple(args.allow_callback_hosts),
                        callback_ca=args.callback_ca)
    try:
        service = MockService(settings, SPEC)
        fail = (args.error_code or DEFAULT_ERROR_CODE) if args.status == "failed" else None
        created = resolved(service.create_task(
            api_key="evolink-mock-trigger", media_base=DEFAULT_URL, action=Action(fail=fail),
            body={"model": args.model, "prompt": TRIGGER_PROMPT, "callback_url": args.to}))
    except (ApiError, ValueError) as exc:
        print(f"refused: {exc.message if isinstance(exc, ApiError) else exc}", file=sys.stderr)
        return 1
    task = resolved(service.store.get(created["id"]))
    assert task is not None
    payload = lifecycle.document(task, terminal_time(task))
    print(f"POST {args.to}: task {task.id} ({payload['status']})", flush=True)
    delivery = Delivery.new(task.id, args.to, payload, time.time())
    asyncio.run(_deliver_now(Sender(service.callback_policy, ca_file=args.callback_ca), delivery))
    print("delivered" if delivery.state == DELIVERED
          else f"not delivered after {len(delivery.attempts)} attempts")
    return 0 if delivery.state == DELIVERED else 1


async def _deliver_now(sender: Sender, delivery: Delivery) -> None:
    """The dispatcher's schedule on the wall clock."""
    try:
        while delivery.state == PENDING:
            assert delivery.next_due_at is not None
            await asyncio.sleep(max(0.0, delivery.next_due_at - time.time()))
            print(_describe(await sender.attempt(delivery, time.time)), flush=True)
    finally:
        await sender.aclose()


def _describe(attempt: Attempt) -> str:
    result = f"HTTP {attempt.status}" if attempt.status is not None else attempt.error
    return f"attempt {attempt.number}: {result} ({attempt.latency_ms:.0f} ms)"


def replay(args: argparse.Namespace) -> int:
    url = f"{args.url.rstrip('/')}/_mock/deliveries/{quote(args.delivery_id, safe='')}/replay"
    headers = {"X-Mock-Admin-Token": args.admin_token} if args.admin_token else {}
    try:
        response = httpx.post(url, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        print(f"cannot reach the mock at {args.url}: {exc}", file=sys.stderr)
        return 1
    if response.status_code != 201:
        print(f"HTTP {response.status_code}: {response.text}", file=sys.stderr)
        return 1
    delivery = response.json()
    print(f"replaying {args.delivery_id} as {delivery['id']} to {delivery['url']} "
          f"(first attempt due at mock time {delivery['next_due_at']})")
    print(json.dumps(delivery, indent=2))
    return 0


def certs(args: argparse.Namespace) -> int:
    """A CA whose key is never written, so it can sign nothing beyond this one certificate."""
    directory: Path = args.directory
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1", "::1")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(directory / "localhost.pem"))
    cert.private_key_pem.write_to_path(str(directory / "localhost-key.pem"))
    (directory / "localhost-cert.pem").write_bytes(b"".join(pem.bytes() for pem in cert.cert_chain_pems))
    for key_file in ("localhost.pem", "localhost-key.pem"):
        (directory / key_file).chmod(0o600)
    print(f"""Wrote to {directory}:
  ca.pem              the CA to trust for callbacks
  localhost.pem       key + certificate for localhost, 127.0.0.1 and ::1 (one file)
  localhost-key.pem   the same key and certificate as separate files
  localhost-cert.pem
Serve your callback handler over HTTPS with them, e.g. on port 8443:
  uvicorn app:app --port 8443 --ssl-keyfile {directory}/localhost-key.pem --ssl-certfile {directory}/localhost-cert.pem
then run the mock with:
  evolink-mock serve --callback-ca {directory}/ca.pem --allow-callback-host localhost:8443
and create tasks with "callback_url": "https://localhost:8443/your/path".""")  # noqa: E501 - a command to paste
    return 0


def spec_diff(args: argparse.Namespace) -> int:
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


def banner(config: settings_module.Settings) -> str:
    """What a developer needs on start: where everything is and which mode is active."""
    host = f"[{config.host}]" if ":" in config.host else config.host
    base = f"http://{host}:{config.port}"
    clock = "manual (POST /_mock/clock/advance)" if config.manual_clock else f"scaled x{config.speed:g}"
    keys = f"{len(config.api_keys)} configured" if config.api_keys else "any non-empty bearer token"
    admin = "X-Mock-Admin-Token required" if config.admin_token else "loopback clients only"
    lines = [
        f"evolink-mock {__version__}   {base}/ (links to everything below)",
        f"  API          {base}/v1/videos/generations, {base}/v1/tasks/{{task_id}}",
        f"  docs         {base}/ui/   (spec: {base}/openapi.json)",
        f"  dashboard    {base}/_mock/ui",
        f"  admin API    {base}/_mock/   ({admin}; docs: {base}/_mock/docs/)",
        f"  clock        {clock}",
        f"  API keys     {keys}",
        f"  state        {config.state or 'in memory'}",
    ]
    if config.spec:
        lines.append(f"  spec         {config.spec}")
    if config.workers > 1:
        lines.append(f"  workers      {config.workers} processes sharing the state; worker 0 sends callbacks")
    if config.credits is not None:
        lines.append(f"  credits      {config.credits:g} per key")
    if config.scenarios:
        lines.append(f"  scenarios    {', '.join(config.scenarios)}")
    if config.allow_callback_hosts:
        lines.append(f"  callbacks    also allowed to {', '.join(config.allow_callback_hosts)}")
    return "\n".join(lines)


def proxy_banner(config: settings_module.Settings) -> str:
    host = f"[{config.host}]" if ":" in config.host else config.host
    base = f"http://{host}:{config.port}"
    invalid = "forwarded (--forward-invalid)" if config.forward_invalid else "answered here, not forwarded"
    lines = [
        "evolink-mock proxy",
        f"  API          {base}/v1/... -> {config.upstream.rstrip('/')}/v1/...",
        f"  upstream CA  {config.upstream_ca or 'system CAs'}",
        f"  invalid      requests {invalid}",
        "  creates      "
        + (f"at most {config.max_creates}" if config.max_creates is not None else "no limit"),
        f"  record       {config.record or 'off (--record FILE.har)'}",
        f"  violations   {base}/_mock/journal, dashboard {base}/_mock/ui",
    ]
    return "\n".join(lines)


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


def configure_logging(config: settings_module.Settings) -> None:
    """One line per request on stderr unless ``--log-format off``; warnings always."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if config.log_format != "off":
        logging.getLogger("evolink_mock.requests").setLevel(logging.INFO)


def unreachable_store(config: Settings) -> str | None:
    """Why a PostgreSQL ``--state`` cannot be used, checked once before serving, so a wrong
    URL or a server that is down ends the start with one line rather than a traceback."""
    if config.state is None or not is_postgresql(config.state):
        return None
    from .store.postgresql import unreachable

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
