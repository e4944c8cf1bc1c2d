"""HTTPS: the service's certificate, client certificates and RFC 3820 proxies against a CA directory."""

import ssl
import sys

import pytest

from logbook_support import PKI, bearer, body, new_stamp, post, sqlite_store, start_server, token  # noqa: F401

LOGS = "/api/v1/logs"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    authority = PKI(tmp_path_factory.mktemp("pki"))
    authority.rehash()
    authority.server_files = authority.server()
    authority.alice = authority.user("alice")  # trusted
    authority.mallory = authority.user("mallory")  # verified, not trusted
    cert, key, _dn, files = authority.alice
    authority.alice_proxy = authority.proxy("alice-proxy", cert, key, [cert])
    proxy_cert, proxy_key, _ = authority.alice_proxy
    authority.alice_proxy2 = authority.proxy("alice-proxy2", proxy_cert, proxy_key, [proxy_cert, cert])
    authority.other = PKI(tmp_path_factory.mktemp("other-pki"), ca_name="Another CA")
    authority.stranger = authority.other.user("stranger")
    return authority


@pytest.fixture
def tls_server(pki, sqlite_store):
    from pilot_server.logbook.receive import tlsconfig

    context = tlsconfig.server_context(pki.server_files[0], pki.server_files[1], ca_dir=pki.ca_dir)
    running = start_server(sqlite_store, trusted_dns=(pki.alice[2],), tls_context=context)
    running.store = sqlite_store
    yield running
    running.stop()


def test_the_service_speaks_tls_with_its_certificate(tls_server, pki):
    assert tls_server.url.startswith("https://127.0.0.1:")
    stamp = new_stamp()
    status, reply = post(tls_server.url, LOGS, body(stamp, [1, 2]), bearer(token(stamp)), context=pki.client_context())
    assert (status, reply["stored"]) == (200, 2)
    # a client that does not trust our CA refuses the service
    with pytest.raises(ssl.SSLCertVerificationError):
        post(tls_server.url, LOGS, body(stamp, [3]), bearer(token(stamp)), context=ssl.create_default_context())


def test_a_trusted_certificate_writes_any_stamp(tls_server, pki):
    stamp = new_stamp()
    files = pki.alice[3]
    status, reply = post(
        tls_server.url, LOGS, body(stamp, [1]), {"Content-Type": "application/json"}, context=pki.client_context(files)
    )
    assert (status, reply["stored"]) == (200, 1)


def test_a_proxy_speaks_for_its_end_entity(tls_server, pki):
    stamp = new_stamp()
    status, _ = post(
        tls_server.url,
        LOGS,
        body(stamp, [1]),
        {"Content-Type": "application/json"},
        context=pki.client_context(pki.alice_proxy[2]),
    )
    assert status == 200
    assert tls_server.store.messages(stamp)[0]["seq"] == 1


@pytest.mark.skipif(sys.version_info < (3, 10), reason="the verified chain is visible from Python 3.10")
def test_a_proxy_of_a_proxy_speaks_for_its_end_entity(tls_server, pki):
    stamp = new_stamp()
    status, _ = post(
        tls_server.url,
        LOGS,
        body(stamp, [1]),
        {"Content-Type": "application/json"},
        context=pki.client_context(pki.alice_proxy2[2]),
    )
    assert status == 200


def test_an_untrusted_certificate_is_403(tls_server, pki):
    stamp = new_stamp()
    status, reply = post(
        tls_server.url,
        LOGS,
        body(stamp, [1]),
        {"Content-Type": "application/json"},
        context=pki.client_context(pki.mallory[3]),
    )
    assert status == 403 and pki.mallory[2] in reply["error"] and "not trusted" in reply["error"]
    assert tls_server.store.pilot(stamp) is None


def test_a_certificate_of_another_ca_fails_the_handshake(tls_server, pki):
    stamp = new_stamp()
    with pytest.raises((ssl.SSLError, ConnectionError)):
        post(
            tls_server.url,
            LOGS,
            body(stamp, [1]),
            {"Content-Type": "application/json"},
            context=pki.client_context(pki.stranger[3]),
        )
    assert tls_server.store.pilot(stamp) is None
    # the service goes on
    assert post(tls_server.url, LOGS, body(stamp, [1]), bearer(token(stamp)), context=pki.client_context())[0] == 200


def test_a_token_decides_even_with_a_trusted_certificate(tls_server, pki):
    stamp = new_stamp()
    status, reply = post(
        tls_server.url, LOGS, body(stamp, [1]), bearer(token(new_stamp())), context=pki.client_context(pki.alice[3])
    )
    assert (status, "another pilot" in reply["error"]) == (403, True)


def test_a_trusted_certificate_registers_pilots(tls_server, pki):
    import json

    stamp = new_stamp()
    payload = json.dumps({"stamp": stamp, "ce": "ce01", "site": "LCG.X"}).encode()
    assert (
        post(
            tls_server.url,
            "/api/v1/pilots",
            payload,
            {"Content-Type": "application/json"},
            context=pki.client_context(pki.alice[3]),
        )[0]
        == 201
    )
    assert (
        post(
            tls_server.url,
            "/api/v1/pilots",
            payload,
            {"Content-Type": "application/json"},
            context=pki.client_context(pki.mallory[3]),
        )[0]
        == 403
    )
    assert tls_server.store.pilot(stamp)["status"] == "Submitted"


def test_a_ca_directory_without_hash_links_is_loaded_file_by_file(pki, sqlite_store, tmp_path):
    import shutil

    from pilot_server.logbook.receive import tlsconfig

    plain = tmp_path / "cas"
    plain.mkdir()
    shutil.copy(pki.ca_file, str(plain / "test-ca.pem"))
    context = tlsconfig.server_context(pki.server_files[0], pki.server_files[1], ca_dir=str(plain))
    running = start_server(sqlite_store, trusted_dns=(pki.alice[2],), tls_context=context)
    try:
        stamp = new_stamp()
        assert post(running.url, LOGS, body(stamp, [1]), {}, context=pki.client_context(pki.alice_proxy[2]))[0] == 200
    finally:
        running.stop()
    with pytest.raises(tlsconfig.TLSConfigError, match="holds no CA certificate"):
        tlsconfig.server_context(pki.server_files[0], pki.server_files[1], ca_dir=str(tmp_path))
