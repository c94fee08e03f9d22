"""The Makefile's own promises: `make clean` leaves a checkout as cloned, durations live once."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LEFT_BEHIND = [".venv/bin/python", ".pytest_cache/x", ".hypothesis/examples/x", ".mypy_cache/x",
               ".ruff_cache/x", "reports/fuzz.md",
               "bench/.tmp/results.json", "evolink_mock.egg-info/PKG-INFO", "certs/ca.pem",
               "result.mp4", "task.json", "mock_server/__pycache__/x.pyc"]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_clean_removes_what_the_targets_and_walk_throughs_leave(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for name in LEFT_BEHIND:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "kept.sqlite").write_text("a user's state")
    subprocess.run(["make", "clean"], cwd=tmp_path, check=True, capture_output=True)
    assert [name for name in LEFT_BEHIND if (tmp_path / name).exists()] == []
    assert (tmp_path / "kept.sqlite").exists() and (tmp_path / "bench").is_dir()


def test_every_left_behind_file_is_ignored_by_git() -> None:
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *LEFT_BEHIND], cwd=ROOT,
                             capture_output=True, text=True, check=False).stdout.split()
    assert sorted(ignored) == sorted(LEFT_BEHIND)


def test_target_durations_are_stated_only_in_the_readme() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert not re.search(r"~\s*\d+\s*min", makefile), "durations belong in the README's table"
    readme = (ROOT / "README.md").read_text()
    for target in ("bench", "hardening"):
        assert re.search(rf"\| `make {target}` \|.*\| ~\d+ min \|", readme), target
