"""The serving process keeps what start-up built out of the garbage collector's scans: a
full collection under load scanned the resolved spec and validators and stalled a burst of
1,000 callbacks for 90-270 ms. Run in a child process: freezing is for the whole process."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import gc
from mock_server.server import build_app, freeze_after_full_collections
from mock_server.settings import Settings

app = build_app(Settings(clock="manual"))
def tracked(obj):
    return any(o is obj for o in gc.get_objects())
assert tracked(app.service), "before: the service is scanned by collections"
freeze_after_full_collections()
assert not tracked(app.service), "after: the service is frozen"
later = [["built after start-up"]]
assert tracked(later)
gc.collect()
assert not tracked(later), "a full collection's survivors are frozen too"
print("ok", gc.get_freeze_count())
"""


def test_start_up_state_and_full_collection_survivors_are_frozen() -> None:
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok ")
    assert int(result.stdout.split()[1]) > 10_000   # the app is tens of thousands of objects
