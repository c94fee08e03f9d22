"""What start-up skips must not change what it accepts: a document Connexion refuses is refused
every time, even in a process where its valid twin was built already (mock_server.app keeps
only the verdicts of documents that passed, keyed by their content)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from connexion.exceptions import InvalidSpecification

from mock_server.app import create_app
from mock_server.settings import Settings
from mock_server.spec import VENDOR_SPEC


def test_a_refused_document_stays_refused_after_its_valid_twin_was_built(tmp_path: Path) -> None:
    document = yaml.safe_load(VENDOR_SPEC.read_text())
    valid, broken = tmp_path / "valid.yaml", tmp_path / "broken.yaml"
    valid.write_text(yaml.safe_dump(document))
    del document["info"]["version"]           # only the OpenAPI schema check notices
    broken.write_text(yaml.safe_dump(document))
    create_app(Settings(spec=str(valid)))
    create_app(Settings(spec=str(valid)))     # the second build skips the check
    for _ in range(2):
        with pytest.raises(InvalidSpecification, match="'version' is a required property"):
            create_app(Settings(spec=str(broken)))
