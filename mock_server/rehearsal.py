"""Rehearsing callbacks from the command line: ``trigger`` (one callback now, on the wall
clock), ``replay`` (ask a running mock to send a delivery again) and ``certs`` (a throw-away
CA for HTTPS handlers).

The CLI imports this module for every command (its parser names the failure codes), so what only
one command needs is imported in that command: the service and sender (~0.2 s of imports) by
``trigger``, trustme and cryptography (~0.1 s) by ``certs``, httpx (~0.1 s) by ``replay``;
``serve`` with a bad flag then answers in a fraction of a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from .domain import lifecycle
from .domain.delivery import DELIVERED, PENDING, Attempt, Delivery
from .domain.scenarios import Action
from .errors import ApiError
from .settings import Settings
from .spec import failure_codes, load_spec
from .store import resolved

if TYPE_CHECKING:
    from .callbacks.sender import Sender

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_ERROR_CODE = "service_error"
TRIGGER_PROMPT = "A paper boat drifting down a rain-soaked street, cinematic"
SPEC = load_spec()
FAILURE_CODES = failure_codes(SPEC)


def trigger(args: argparse.Namespace) -> int:
    """Build the task with the mock's own service (so the document is the real thing)."""
    if args.error_code and args.status != "failed":
        print("--error-code goes with --status failed", file=sys.stderr)
        return 2
    from .callbacks.sender import Sender
    from .service import MockService

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
    payload = lifecycle.document(task, lifecycle.terminal_time(task))
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
    # ~0.1 s of CPU that `spec diff`, `certs` and a bad flag do without (the app imports
    # httpx anyway, through Connexion, once `serve` builds it).
    import httpx

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
    import trustme

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
