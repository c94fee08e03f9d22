"""A private PostgreSQL server for the replica tests: ``initdb`` in a temporary directory,
``pg_ctl`` on a free loopback port and a unix socket in that directory.

PostgreSQL refuses to run as root, and CI runs as root: then the server runs as the
``postgres`` user that Debian's package creates. Where PostgreSQL is not installed (``make
test`` installs it when it can), ``skip_reason`` says so and the tests skip with it.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from .processes import free_port

DEBIAN_BIN = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"


def _bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, or in Debian's versioned directory."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(DEBIAN_BIN.glob("*/bin/initdb"), key=lambda p: p.parent.parent.name)
    return versions[-1].parent if versions else None


def skip_reason() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None."""
    if _bin_dir() is None:
        return ("PostgreSQL is not installed (initdb/pg_ctl not found; `make test` installs "
                "Debian's postgresql package when run as root)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return "running as root without a 'postgres' user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root without runuser to start PostgreSQL as 'postgres'"
    return None


class PostgresServer:
    """One server for a test session; each test takes a fresh database (``new_database``)."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        assert bin_dir is not None, skip_reason()
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="evolink-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._names = itertools.count(1)
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", SERVER_USER, "-E", "UTF8",
                  "--no-sync", "--no-instructions")
        self.start()

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        # fsync off: a test server's data need not survive a power cut, and the 2-core CI box
        # spends its time on the mock rather than on disk flushes.
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"),
                  "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database: the URL replicas of one test share."""
        name = f"mock_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def backend_cpu_seconds(self) -> float:
        """CPU time (user + system) of every PostgreSQL process so far, from /proc."""
        ticks = os.sysconf("SC_CLK_TCK")
        pid_file = self.data / "postmaster.pid"
        postmaster = int(pid_file.read_text().split()[0])
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            pid, ppid = int(entry.name), int(fields[1])
            if ppid == postmaster:
                total += int(fields[11]) + int(fields[12])   # utime, stime
            elif pid == postmaster:   # its own, and that of the backends that have exited
                total += sum(int(value) for value in fields[11:15])
        return total / ticks

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy (waiting on other processes)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
