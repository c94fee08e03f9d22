"""The README and docs/*.md are tested: every shell and Python block runs as pasted.

A documented command that stops working fails here, on every CI run (see docs_runner.py for how
blocks run and the `<!-- docs-test: ... -->` directives).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs_runner import PORTS, parse, rewrite_ports, run

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_documented_command_runs_as_pasted(document: Path, tmp_path: Path) -> None:
    result = run(document, ROOT, tmp_path / "work")
    assert result.returncode == 0, f"{document.name}: a block failed\n{result.stdout[-6000:]}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_skipped_block_says_why_and_every_command_is_a_venv_path(document: Path) -> None:
    for block in parse(document):
        assert all(reason for reason in block.args("skip")), block.where
        if block.runs and block.language != "python":
            for line in block.code.splitlines():
                command = line.strip()
                assert not command.startswith(("evolink-mock", "evolink-contract")), (
                    f"{block.where}: '{command}' needs .venv/bin/ to work as pasted")


def test_readme_is_a_front_door_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert len(readme.splitlines()) <= 250, "long reference sections belong in docs/*.md"
    linked = set(re.findall(r"\]\(docs/([^)#]+\.md)", readme))
    assert linked == {p.name for p in (ROOT / "docs").glob("*.md")}, "each docs page has its README paragraph"


# The runner itself: it must be able to fail, or the tests above prove nothing.

def _document(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "doc.md"
    path.write_text(text)
    return path


def test_a_failing_command_fails_the_document_and_names_the_block(tmp_path: Path) -> None:
    doc = _document(tmp_path, "intro\n\n```sh\necho first\n```\n\n```sh\nfalse\necho never\n```\n")
    result = run(doc, ROOT, tmp_path / "work", timeout=30)
    assert result.returncode != 0
    assert "doc.md:7" in result.stdout and "never" not in result.stdout


def test_variables_carry_from_block_to_block_and_expectations_are_checked(tmp_path: Path) -> None:
    doc = _document(tmp_path, "```sh\nWORD=hello\n```\n\n<!-- docs-test: expect hello -->\n"
                              "```sh\necho $WORD\n```\n\n<!-- docs-test: expect absent -->\n"
                              "```sh\necho present\n```\n")
    result = run(doc, ROOT, tmp_path / "work", timeout=30)
    assert result.returncode != 0 and "output lacks absent" in result.stdout
    assert "hello" in result.stdout


def test_skipped_blocks_do_not_run_and_files_are_written(tmp_path: Path) -> None:
    doc = _document(tmp_path, "<!-- docs-test: skip needs the real vendor -->\n```sh\nfalse\n```\n\n"
                              "<!-- docs-test: file rules.yaml -->\n```yaml\nrules: []\n```\n\n"
                              "<!-- docs-test: expect rules: [] -->\n```sh\ncat rules.yaml\n```\n")
    assert run(doc, ROOT, tmp_path / "work", timeout=30).returncode == 0


def test_a_background_server_is_waited_for_and_stopped_after_the_document(tmp_path: Path) -> None:
    doc = _document(tmp_path, "<!-- docs-test: background -->\n```sh\n"
                              ".venv/bin/evolink-mock serve --clock manual --log-format off\n```\n\n"
                              "<!-- docs-test: expect \"ok\" -->\n```sh\n"
                              "curl -s http://127.0.0.1:8000/_mock/health\n```\n")
    result = run(doc, ROOT, tmp_path / "work", timeout=60)
    assert result.returncode == 0, result.stdout


def test_unknown_directives_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown docs-test directive 'backgorund'"):
        parse(_document(tmp_path, "<!-- docs-test: backgorund -->\n```sh\ntrue\n```\n"))


def test_documented_ports_are_rewritten_but_not_other_numbers() -> None:
    ports = {documented: documented + 10000 for documented in PORTS}
    text = "curl localhost:8000/x --port 8443 -d '{\"seconds\": 80000}' 18000 1.8000"
    assert rewrite_ports(text, ports) == \
        "curl localhost:18000/x --port 18443 -d '{\"seconds\": 80000}' 18000 1.8000"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(document: Path) -> None:
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", document.read_text()):
        assert (document.parent / target).exists(), f"{document.name} links a missing {target}"
