"""The packages' public surface: every name in ``__all__`` imports, is annotated, and ships typed."""

from __future__ import annotations

import inspect
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from importlib import import_module, resources
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contract_tests", "mock_server")
# Where a bare ``Any`` is the honest type: JSON answers and rule fields of the control API,
# whose shapes the spec (spec/mock-admin.yaml) gives, not a class of ours.
JSON_VALUED = {("MockServer.control", "return"), ("MockServer.control", "kwargs"),
               ("MockServer.add_rule", "rule")}


def public_callables(module: ModuleType) -> Iterator[tuple[str, Callable[..., Any]]]:
    """Each public function, class (its constructor) and public method or property of a class
    in ``module.__all__``, by dotted name."""
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value):
            if "__init__" in vars(value):   # not an exception's constructor from the builtins
                yield name, value
            for attribute, member in vars(value).items():
                if attribute.startswith("_"):
                    continue
                if isinstance(member, property) and member.fget is not None:
                    yield f"{name}.{attribute}", member.fget
                elif inspect.isfunction(member):
                    yield f"{name}.{attribute}", member
        elif callable(value):
            yield name, value


def missing_annotations(name: str, function: Callable[..., Any]) -> list[str]:
    signature = inspect.signature(function)
    missing = [f"{name}({parameter})" for parameter in signature.parameters.values()
               if parameter.name != "self" and parameter.annotation is inspect.Parameter.empty]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append(f"{name} -> ?")
    return missing


def bare_any(name: str, function: Callable[..., Any]) -> list[str]:
    signature = inspect.signature(function)
    annotated = [(parameter.name, parameter.annotation)
                 for parameter in signature.parameters.values()]
    annotated.append(("return", signature.return_annotation))
    return [f"{name}: {where}" for where, annotation in annotated
            if annotation in ("Any", Any) and (name, where) not in JSON_VALUED]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_imports_from_the_package(package: str) -> None:
    module = import_module(package)
    assert module.__all__, f"{package} declares no public names"
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == [], f"{package}.__all__ names what it cannot give: {missing}"
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_signature_is_annotated_with_our_types(package: str) -> None:
    module = import_module(package)
    callables = list(public_callables(module))
    assert callables
    assert [gap for name, function in callables for gap in missing_annotations(name, function)] == []
    assert [found for name, function in callables for found in bare_any(name, function)] == []


def test_the_documented_imports_are_public() -> None:
    import contract_tests
    import mock_server
    from contract_tests.mock import MockPool, MockServer
    from mock_server.settings import Settings

    assert (contract_tests.MockServer, contract_tests.MockPool) == (MockServer, MockPool)
    assert mock_server.Settings is Settings
    assert {"MockServer", "Report", "check_server", "check_client"} <= set(contract_tests.__all__)


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    import contract_tests

    with pytest.raises(AttributeError, match="'contract_tests' has no attribute 'MockSevrer'"):
        contract_tests.MockSevrer  # noqa: B018 - the lookup is the test


@pytest.mark.parametrize("package", PACKAGES)
def test_the_package_ships_its_py_typed_marker(package: str) -> None:
    assert resources.files(package).joinpath("py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]
    assert "py.typed" in package_data[package]


def test_importing_the_plugin_loads_no_mock() -> None:
    """pytest loads the plugin in every run: the public names wait until first use."""
    code = ("import sys, contract_tests.plugin, contract_tests, mock_server\n"
            "print(sorted(m for m in sys.modules if m.startswith(('mock_server.', "
            "'contract_tests.', 'connexion'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT).stdout.strip()
    assert loaded == "['contract_tests.plugin']"
