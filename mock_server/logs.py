"""Logging set-up, the same for ``serve``, ``proxy`` and every ``serve --workers N`` worker."""

from __future__ import annotations

import logging

from .settings import Settings


def configure_logging(config: Settings) -> None:
    """One line per request on stderr unless ``--log-format off``; warnings always."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if config.log_format != "off":
        logging.getLogger("evolink_mock.requests").setLevel(logging.INFO)
