"""`evolink-contract client -- python ...` runs the kit's own interpreter, as a real CLI run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_python_in_the_client_command_is_the_kits_interpreter() -> None:
    # A PATH without the kit's virtualenv, as in a shell that never activated it.
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-m", "contract_tests.cli", "client", "--",
         "python", "contract_tests/examples/good_client.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Result: PASSED" in run.stdout
    assert "ModuleNotFoundError" not in run.stderr
