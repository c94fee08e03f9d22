"""What ``serve`` and ``proxy`` print once they listen: where everything is, which mode."""

from __future__ import annotations

from .settings import Settings
from .version import __version__


def banner(config: Settings) -> str:
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


def proxy_banner(config: Settings) -> str:
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
