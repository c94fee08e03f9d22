"""Run a Markdown document's code blocks as a user would paste them, and say which one broke.

Every ```sh / ```bash / ```python block of README.md and docs/*.md runs, in order, in one bash
session per document (shell variables carry from block to block, as in one terminal), from a
scratch directory where the repository's top-level files are reachable by the same relative
paths (so `.venv/bin/evolink-mock`, `fixtures/...` work as written and files the commands make,
such as `certs/` or `result.mp4`, land in the scratch directory, not the checkout). PATH is the
system's: a command that only works inside an activated venv fails here as it would for a user.

The ports the documents use (8000 for the mock, 8443 for the webhook receiver, 8001 for a second
mock) are rewritten to free ports, and EVOLINK_MOCK_PORT points a plain `evolink-mock serve` or
`make run` at the first, so documents can run side by side and beside a user's own mock.

An HTML comment on the line before a fence says how to run the block (invisible on GitHub):

    <!-- docs-test: background -->      a long-running command (a server): started, then waited
                                         for until its --port (8000 if it names none) accepts
                                         connections
    <!-- docs-test: skip REASON -->     not run here (e.g. the real vendor); the reason is required
    <!-- docs-test: expect TEXT -->     the block's output must contain TEXT (repeatable, one per
                                         comment line)
    <!-- docs-test: file PATH -->       the block is a file's content (any language), written to PATH
    <!-- docs-test: pytest -->          a Python block that is a test module: run by pytest

Plain python blocks run with the repository's venv interpreter (the one the README's
`.venv/bin/python` names). A shell block fails on the first failing command (`set -e`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from .processes import free_port

SHELL = {"sh", "bash", "shell"}
PYTHON = {"python", "py"}
PORTS = (8000, 8443, 8001)  # the example ports documents use; each gets a free port per run
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,})(?P<info>[^`]*)$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<kind>\w+)\s*(?P<arg>.*?)\s*-->\s*$")
KINDS = {"background", "skip", "expect", "file", "pytest"}


@dataclass
class Block:
    document: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    directives: list[tuple[str, str]] = field(default_factory=list)

    def has(self, kind: str) -> bool:
        return any(k == kind for k, _ in self.directives)

    def args(self, kind: str) -> list[str]:
        return [arg for k, arg in self.directives if k == kind]

    @property
    def runs(self) -> bool:
        if self.has("skip"):
            return False
        return self.language in SHELL | PYTHON or self.has("file")

    @property
    def where(self) -> str:
        return f"{self.document.name}:{self.line}"


def parse(document: Path) -> list[Block]:
    """The fenced blocks of a Markdown file with the directives written just above each."""
    lines = document.read_text().splitlines()
    blocks: list[Block] = []
    pending: list[tuple[str, str]] = []
    index = 0
    while index < len(lines):
        directive = _DIRECTIVE.match(lines[index])
        if directive:
            kind, arg = directive["kind"], directive["arg"]
            if kind not in KINDS:
                raise ValueError(f"{document.name}:{index + 1}: unknown docs-test directive {kind!r}")
            if kind in {"skip", "expect", "file"} and not arg:
                raise ValueError(f"{document.name}:{index + 1}: docs-test {kind} needs an argument")
            pending.append((kind, arg))
            index += 1
            continue
        opening = _FENCE.match(lines[index])
        if not opening:
            if lines[index].strip():
                pending = []  # a directive belongs to the block right below it
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        language = (opening["info"].split() or [""])[0].lower()
        blocks.append(Block(document, index - len(body), language, "\n".join(body) + "\n", pending))
        pending = []
        index += 1
    return blocks


def rewrite_ports(text: str, ports: dict[int, int]) -> str:
    for documented, actual in ports.items():
        text = re.sub(rf"(?<![\d.]){documented}(?!\d)", str(actual), text)
    return text


def scratch_dir(root: Path, where: Path) -> Path:
    """A directory where the checkout's top-level entries are reachable by their own names."""
    where.mkdir(parents=True, exist_ok=True)
    for entry in root.iterdir():
        if entry.name != ".git":
            (where / entry.name).symlink_to(entry)
    return where


def _wait_for_ports(ports: list[int], log: str) -> str:
    """Bash that waits up to 60 s for each port, failing with the server's log if it died."""
    checks = " && ".join(f"(echo > /dev/tcp/127.0.0.1/{port}) 2>/dev/null" for port in ports)
    return textwrap.dedent(f"""\
        for _try in $(seq 600); do
          if {checks}; then break; fi
          if ! kill -0 $! 2>/dev/null; then echo "background command exited:"; cat {log}; exit 1; fi
          sleep 0.1
        done
        {checks} || {{ echo "nothing listens on {ports} after 60 s:"; cat {log}; exit 1; }}
        """)


def script(blocks: list[Block], work: Path, ports: dict[int, int], python: str) -> str:
    """One bash script running the document's blocks in order, each announcing itself."""
    # A failing block ends the script through set -e; the EXIT trap still shows what it printed.
    parts = ["set -euo pipefail", "_out=",
             "trap '[ -n \"$_out\" ] && cat \"$_out\"; kill $(jobs -p) 2>/dev/null || true' EXIT"]
    for number, block in enumerate(blocks):
        if not block.runs:
            continue
        code = rewrite_ports(block.code, ports)
        source = work / f".block{number}"
        output = work / f".block{number}.out"
        parts.append(f"echo {shlex.quote(f'>>> {block.where}')}")
        if block.has("file"):
            target = work / block.args("file")[0]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(code)
            continue
        if block.language in PYTHON:
            source = source.with_suffix(".py")
            if block.has("pytest"):
                source = source.with_name(f"test_docs_block{number}.py")
                command = (f"{shlex.quote(python)} -m pytest -q -p no:cacheprovider "
                           f"--rootdir {shlex.quote(str(work))} -c /dev/null {source}")
            else:
                command = f"{shlex.quote(python)} {source}"
            source.write_text(code)
        else:
            source.write_text(code)
            command = f"source {source}"
        if block.has("background"):
            log = work / f".block{number}.log"
            # A server names its own port with --port; without one it is the mock on 8000's.
            named = [int(p) for p in re.findall(r"--port[ =](\d+)", code)] or [ports[8000]]
            parts.append(f"({command}) > {log} 2>&1 &")
            parts.append(_wait_for_ports(named, str(log)))
            continue
        # Not `| tee`: a pipeline would source the block in a subshell and lose its variables.
        parts += [f"_out={output}", f"{command} > {output} 2>&1", f"_out=; cat {output}"]
        for expected in block.args("expect"):
            text = shlex.quote(rewrite_ports(expected, ports))
            parts.append(f"grep -qF -- {text} {output} || "
                         f"{{ echo {shlex.quote(f'{block.where}: output lacks ')}{text}; exit 1; }}")
    return "\n".join(parts) + "\n"


def run(document: Path, root: Path, work: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run one document; the result's stdout names each block as it starts."""
    stamp, pyproject = root / ".venv" / ".installed", root / "pyproject.toml"
    if stamp.exists() and stamp.stat().st_mtime < pyproject.stat().st_mtime:
        # `make run` in the scratch directory would reinstall the package from there, pointing
        # the venv's editable install and script shebangs at a directory about to be deleted.
        raise RuntimeError("the venv is older than pyproject.toml: run `make install` first "
                           "(`make test` does)")
    ports = {documented: free_port() for documented in PORTS}
    scratch_dir(root, work)
    text = script(parse(document), work, ports, sys.executable)
    (work / ".docs-test.sh").write_text(text)
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith(("EVOLINK_", "VIRTUAL_ENV", "PYTEST_", "COV_"))}
    venv_bin = str(Path(sys.executable).parent)
    environ["PATH"] = os.pathsep.join(p for p in environ.get("PATH", "").split(os.pathsep)
                                      if not p.startswith(str(root)) and p != venv_bin)
    environ["EVOLINK_MOCK_PORT"] = str(ports[8000])
    process = subprocess.Popen(["bash", str(work / ".docs-test.sh")], cwd=work, env=environ,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        out, _ = process.communicate()
        out += f"\n(timed out after {timeout:g} s)"
        return subprocess.CompletedProcess(process.args, -9, out, None)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)  # anything a block left running
    return subprocess.CompletedProcess(process.args, process.returncode, out, None)
