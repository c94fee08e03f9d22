"""Contract test kit for the EvoLink video API: check servers and clients against the spec.

The names in ``__all__`` are the kit's public surface: the mock for a test (``MockServer``,
``MockPool``, a ``ServerPool`` of them; the ``evolink_mock`` pytest fixture hands out a
``MockServer``), the check runners with their options, and the report they return. Each is
imported on first use, because the pytest plugin (this package) is loaded by every pytest run
and should load the mock only for a test that asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mock_server import lazy_attributes

if TYPE_CHECKING:
    from .callbacks import CallbackOptions, rehearse
    from .client import ClientOptions, check_client
    from .har import HarError, check_har
    from .mock import Journal, MockControlError, MockPool, MockServer, ServerPool
    from .results import CheckRun, Finding, NotApplicable, Report
    from .server.pipeline import PHASES, ServerOptions, check_server

__all__ = [
    "PHASES", "CallbackOptions", "CheckRun", "ClientOptions", "Finding", "HarError", "Journal",
    "MockControlError", "MockPool", "MockServer", "NotApplicable", "Report", "ServerOptions",
    "ServerPool", "check_client", "check_har", "check_server", "rehearse",
]

__getattr__ = lazy_attributes(__name__, {
    "CallbackOptions": ".callbacks", "rehearse": ".callbacks",
    "ClientOptions": ".client", "check_client": ".client",
    "HarError": ".har", "check_har": ".har",
    "Journal": ".mock", "MockControlError": ".mock", "MockPool": ".mock", "MockServer": ".mock",
    "ServerPool": ".mock",
    "CheckRun": ".results", "Finding": ".results", "NotApplicable": ".results", "Report": ".results",
    "PHASES": ".server.pipeline", "ServerOptions": ".server.pipeline",
    "check_server": ".server.pipeline",
})
