"""``evolink-mock proxy``: a validating proxy and recorder in front of the real API."""

from .app import PROXY_ANSWER, ProxyApp, Tally
from .checks import RequestGate, ResponseChecker, Verdict, gate_app
from .record import HarRecorder

__all__ = ["PROXY_ANSWER", "HarRecorder", "ProxyApp", "RequestGate", "ResponseChecker", "Tally",
           "Verdict", "gate_app"]
