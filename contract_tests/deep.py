"""``make contract-deep``: every contract check against a fresh mock, at depth.

The default test suite runs the same checks with few examples; this run generates 1,000
cases per operation and writes its JUnit report to reports/contract-deep.xml.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mock_server.server import RunningServer
from mock_server.settings import Settings

from .cli import main as contract_main

KEYS = ("contract-deep-1", "contract-deep-2")


def main() -> int:
    Path("reports").mkdir(exist_ok=True)
    with RunningServer(Settings(clock="manual", api_keys=KEYS, log_format="off")) as server:
        return contract_main(["server", "--base-url", server.url, "--api-key", KEYS[0],
                              "--other-api-key", KEYS[1], "--max-examples", "1000",
                              "--junit", "reports/contract-deep.xml"])


if __name__ == "__main__":
    sys.exit(main())
