"""A copy of the shipped spec with one more model, written to a file for ``Settings(spec=...)``,
``serve --spec`` and ``evolink-contract server --spec``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mock_server.spec import load_spec

FRAGMENT = Path(__file__).resolve().parent / "specs" / "acme-wave.yaml"
ACME = yaml.safe_load(FRAGMENT.read_text(encoding="utf-8"))
NAME: str = ACME["name"]


def with_model(spec: dict[str, Any], name: str, schema_name: str,
               schema: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with one more model: its schema, a ``oneOf`` branch and a mapping entry (the
    three places a user edits by hand, see docs/add-a-model.md)."""
    ref = f"#/components/schemas/{schema_name}"
    spec["components"]["schemas"][schema_name] = schema
    request = spec["components"]["schemas"]["VideoGenerationRequest"]
    request["oneOf"].append({"$ref": ref})
    request["discriminator"]["mapping"][name] = ref
    return spec


def four_model_spec(**x_mock_changes: Any) -> dict[str, Any]:
    """The shipped spec plus the invented model (its x-mock block updated with the changes)."""
    schema = yaml.safe_load(FRAGMENT.read_text(encoding="utf-8"))["schema"]
    schema["x-mock"].update(x_mock_changes)
    return with_model(load_spec(), NAME, ACME["schema_name"], schema)


def write_spec(directory: Path, spec: dict[str, Any], name: str = "four-models.yaml") -> str:
    path = directory / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return str(path)
