"""The direction of imports, as rules over the import graph that grimp (import-linter's
engine) builds from the source: no cycles; the domain is pure; the stores know only the
domain; handlers reach the store through the service; nothing imports a command line; the
contract kit uses only the parts of the mock that are meant for it.

Each rule is a function of (graph, package) returning the offending imports, so the last
test can show on a small made-up package that every rule reports what it should.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import grimp
import pytest

# What the pure domain must not import: the web, the network, files and databases.
WEB_OR_IO = ("asyncio", "socket", "ssl", "http", "urllib", "sqlite3", "starlette", "connexion",
             "httpx", "httptools", "uvicorn", "psycopg", "psycopg_pool", "yaml", "trustme")
# The command lines: entry points that nothing else imports (``contract_tests.deep`` is
# ``make contract-deep``, which runs the contract CLI with its own arguments).
ENTRY_POINTS = ("cli", "deep")
# The parts of the mock that contract_tests builds on, and why. The rest (the service, the
# app, handlers, store back ends, callback dispatchers, command lines) is the mock's own.
CONTRACT_USES = {
    "": "the version the CLI reports",
    "server": "RunningServer: the mock the plugin and `client` run",
    "service": "MockService: the type of MockServer.service (what the control API lacks)",
    "settings": "Settings and the flag helpers, so both CLIs read flags alike",
    "flag_values": "the readers of flag values (a CA bundle), so both CLIs refuse alike",
    "store": "resolved(): reading a local store from synchronous code",
    "spec": "reading and walking spec documents",
    "models": "the models of a spec and the problems of their x-mock blocks",
    "validation": "the body checker that prices a create under a budget",
    "domain": "tasks, their plan and lifecycle documents, ids, scenarios",
    "journal": "JournalEntry: what `client` judges a program by",
    "callbacks.policy": "the callback URL rules the generated cases respect",
    "callbacks.sender": "the trust store callbacks are sent with",
    "auth": "the admin token header",
    "proxy": "the proxy's request gate and response checker, for HAR files",
}


def under(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(f"{package}.") for package in packages)


def modules_of(graph: grimp.ImportGraph, package: str) -> set[str]:
    return {package} | graph.find_descendants(package)


def imports_from(graph: grimp.ImportGraph, package: str) -> list[tuple[str, str]]:
    """(importer, imported) for every direct import made by ``package``'s modules."""
    return sorted((module, imported) for module in modules_of(graph, package)
                  for imported in graph.find_modules_directly_imported_by(module))


def cycles(graph: grimp.ImportGraph, package: str) -> list[str]:
    """Every import inside ``package`` that closes a cycle, with the way back."""
    inside = modules_of(graph, package)
    return [" -> ".join((module, *back)) for module, imported in imports_from(graph, package)
            if imported in inside and (back := graph.find_shortest_chain(imported, module))]


def domain_leaks(graph: grimp.ImportGraph, package: str) -> list[str]:
    """Imports by ``package.domain`` of ``package``'s modules outside the domain."""
    domain = f"{package}.domain"
    return [f"{module} imports {imported}" for module, imported in imports_from(graph, domain)
            if under(imported, (package,)) and not under(imported, (domain,))]


def domain_io(graph: grimp.ImportGraph, package: str) -> list[str]:
    """Imports by ``package.domain`` of web or I/O libraries (the graph holds externals)."""
    return [f"{module} imports {imported}"
            for module, imported in imports_from(graph, f"{package}.domain")
            if under(imported, WEB_OR_IO)]


def store_reaches_up(graph: grimp.ImportGraph, package: str) -> list[str]:
    """Imports by ``package.store`` of ``package``'s modules but the domain's and its own."""
    keep = (f"{package}.store", f"{package}.domain")
    return [f"{module} imports {imported}"
            for module, imported in imports_from(graph, f"{package}.store")
            if under(imported, (package,)) and not under(imported, keep)]


def handlers_bypass_service(graph: grimp.ImportGraph, package: str) -> list[str]:
    return [f"{module} imports {imported}"
            for module, imported in imports_from(graph, f"{package}.api")
            if under(imported, (f"{package}.store",))]


def entry_points_imported(graph: grimp.ImportGraph, package: str) -> list[str]:
    entry_points = tuple(f"{package}.{name}" for name in ENTRY_POINTS)
    return [f"{module} imports {imported}" for module, imported in imports_from(graph, package)
            if under(imported, entry_points) and not under(module, entry_points)]


def contract_reaches_in(graph: grimp.ImportGraph, mock: str, kit: str) -> list[str]:
    uses = tuple(f"{mock}.{part}".rstrip(".") for part in CONTRACT_USES if part)
    return [f"{module} imports {imported}" for module, imported in imports_from(graph, kit)
            if under(imported, (mock,)) and imported != mock and not under(imported, uses)]


@pytest.fixture(scope="module")
def ours() -> grimp.ImportGraph:
    return grimp.build_graph("mock_server", "contract_tests", cache_dir=None)


@pytest.fixture(scope="module")
def with_libraries() -> grimp.ImportGraph:
    return grimp.build_graph("mock_server", include_external_packages=True, cache_dir=None)


@pytest.mark.parametrize("package", ["mock_server", "contract_tests"])
def test_no_import_cycles(ours: grimp.ImportGraph, package: str) -> None:
    assert cycles(ours, package) == []


def test_the_domain_imports_nothing_of_the_mock_outside_it(ours: grimp.ImportGraph) -> None:
    assert domain_leaks(ours, "mock_server") == []


def test_the_domain_imports_no_web_or_io_library(with_libraries: grimp.ImportGraph) -> None:
    assert domain_io(with_libraries, "mock_server") == []


def test_stores_import_only_the_domain_and_themselves(ours: grimp.ImportGraph) -> None:
    assert store_reaches_up(ours, "mock_server") == []


def test_handlers_reach_the_store_through_the_service(ours: grimp.ImportGraph) -> None:
    assert handlers_bypass_service(ours, "mock_server") == []


@pytest.mark.parametrize("package", ["mock_server", "contract_tests"])
def test_nothing_imports_a_command_line(ours: grimp.ImportGraph, package: str) -> None:
    assert entry_points_imported(ours, package) == []


def test_the_contract_kit_uses_only_the_mocks_parts_meant_for_it(ours: grimp.ImportGraph) -> None:
    assert contract_reaches_in(ours, "mock_server", "contract_tests") == []


SYNTHETIC = {
    "layered/__init__.py": "",
    "layered/cli.py": "",
    "layered/service.py": "from layered.domain import task\n",
    "layered/domain/__init__.py": "",
    "layered/domain/task.py": "import sqlite3\nfrom layered import service\n",
    "layered/store/__init__.py": "from layered import service\n",
    "layered/api/__init__.py": "from layered.store import memory\nfrom layered import cli\n",
    "layered/store/memory.py": "",
    "kit/__init__.py": "from layered import api\nfrom layered.domain import task\n",
}


def test_each_rule_reports_a_made_up_violation(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name, text in SYNTHETIC.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    graph = grimp.build_graph("layered", "kit", include_external_packages=True, cache_dir=None)
    assert "layered.domain.task -> layered.service -> layered.domain.task" in cycles(graph,
                                                                                      "layered")
    assert cycles(graph, "kit") == []
    assert domain_leaks(graph, "layered") == ["layered.domain.task imports layered.service"]
    assert domain_io(graph, "layered") == ["layered.domain.task imports sqlite3"]
    assert store_reaches_up(graph, "layered") == ["layered.store imports layered.service"]
    assert handlers_bypass_service(graph, "layered") == ["layered.api imports layered.store.memory"]
    assert entry_points_imported(graph, "layered") == ["layered.api imports layered.cli"]
    assert contract_reaches_in(graph, "layered", "kit") == ["kit imports layered.api"]
