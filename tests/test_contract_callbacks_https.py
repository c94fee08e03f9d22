"""`evolink-contract callbacks --callback-ca`: rehearse an HTTPS handler with a local CA.

Real CLI runs against a real HTTPS receiver on loopback whose certificate comes from
`evolink-mock certs`, as in the README's rehearsal.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from contract_tests.callbacks import rehearsal_documents
from mock_server.cli import main as mock_main

from .receivers import Receiver

DOCUMENTS = len(rehearsal_documents())   # 16: completed, 13 failure codes, 2 replays
CHECKS_PER_DOCUMENT = 2


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    assert mock_main(["certs", str(tmp_path)]) == 0
    return tmp_path


def rehearse(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "contract_tests.cli", "callbacks", "--to", url,
                           *extra], capture_output=True, text=True, timeout=120, check=False)


def https_receiver(certs: Path) -> Receiver:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(certs / "localhost.pem")
    return Receiver(tls=tls)


def test_the_local_ca_makes_the_https_handler_pass(certs: Path) -> None:
    with https_receiver(certs) as receiver:
        run = rehearse(receiver.url(host="localhost"), "--callback-ca", str(certs / "ca.pem"))
        assert len(receiver.requests) == DOCUMENTS
    assert run.returncode == 0, run.stdout + run.stderr
    total = DOCUMENTS * CHECKS_PER_DOCUMENT
    assert f"  {total} of {total} check runs passed" in run.stdout
    assert "Result: PASSED" in run.stdout


def test_without_the_ca_every_delivery_fails_and_the_report_says_so(certs: Path) -> None:
    with https_receiver(certs) as receiver:
        run = rehearse(receiver.url(host="localhost"))
    assert run.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in run.stdout
    total = DOCUMENTS * CHECKS_PER_DOCUMENT
    assert f"  {DOCUMENTS} of {total} check runs failed ({DOCUMENTS} passed)" in run.stdout
    assert "check runs passed" not in run.stdout


def test_the_reproduce_curl_trusts_the_same_ca(certs: Path) -> None:
    with Receiver(500) as receiver:   # plain http: the first document is answered 500
        run = rehearse(receiver.url(), "--callback-ca", str(certs / "ca.pem"))
    assert run.returncode == 1
    assert f"reproduce: curl -X POST --cacert {certs / 'ca.pem'} " in run.stdout
