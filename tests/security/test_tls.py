"""TLS verification is on unless a check opts out: a genuinely self-signed certificate (not
one from a test CA) is refused by the http and tls kinds and by webhook notifications, and
trusted only when named in `ca_file` or with `insecure = true` on that one check."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from checks import http, tls
from checks.base import Resources
from dash.model import Reason, Status
from dash.notify import Notifier
from tests.checks.test_http import config as http_config
from tests.checks.test_tls import config as tls_config
from tests.servers import FaultFarm
from tests.test_notify import config as notify_config
from tests.test_notify import page, until, webhook

UNTRUSTED = "TLS: certificate not trusted (self-signed or unknown CA)"


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory) -> tuple[Path, Path]:
    """(certificate, key) PEM files of a self-signed certificate for localhost and 127.0.0.1."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                     x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("self-signed")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture(scope="module")
def farm(self_signed):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*self_signed)
    with FaultFarm(ssl_context=ctx) as server:
        yield server


@pytest.fixture
async def resources():
    res = Resources()
    yield res
    await res.aclose()


async def test_the_http_kind_refuses_a_self_signed_certificate_unless_told(farm, self_signed, resources):
    url = farm.url("/ok", host="localhost")

    async def run(**options):
        return await asyncio.wait_for(http.make(http_config(url=url, **options), resources).probe(), 5)

    refused = await run()
    assert (refused.status, refused.reason, refused.message) == (Status.CRIT, Reason.TLS, UNTRUSTED)
    assert (await run(ca_file=str(self_signed[0]))).status is Status.OK  # trusted because it is named
    assert (await run(insecure=True)).status is Status.OK  # the explicit opt-out, for this check only
    assert (await run()).reason is Reason.TLS  # ... which does not leak into the other checks' client


async def test_the_tls_kind_refuses_a_self_signed_certificate_unless_named(farm, self_signed):
    refused = await tls.make(tls_config(host="localhost", port=farm.port), Resources()).probe()
    assert (refused.status, refused.reason) == (Status.CRIT, Reason.TLS)
    assert "not trusted" in refused.message
    named = await tls.make(tls_config(host="localhost", port=farm.port, ca_file=str(self_signed[0])), Resources()).probe()
    assert named.status is Status.OK, named.message


async def test_webhooks_verify_certificates_too(farm, caplog):
    caplog.set_level(logging.INFO, logger="healthdash.notify")
    before = farm.requests
    notifier = Notifier(notify_config(webhook(farm.url("/ok", host="localhost"), retries=0)))
    await notifier.start()
    notifier.submit(page("db", 1))
    await until(lambda: notifier.failed + notifier.sent == 1)
    await notifier.stop()
    assert (notifier.sent, notifier.failed) == (0, 1)
    assert farm.requests == before  # nothing was sent over the unverified connection
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text and "self-signed certificate" in caplog.text
