"""compat/: what differs between Python 2.6, 2.7 and 3.x; compat.net requests."""

import io
import os
import subprocess
import sys

import pytest

import compat
import helpers
from compat import net

HAS_CURL = net._which("curl") is not None
HAS_WGET = net._which("wget") is not None


def test_to_text():
    assert compat.to_text(b"caf\xc3\xa9") == u"caf\u00e9"
    assert compat.to_text(b"bad \xff\xfe") == u"bad \ufffd\ufffd"
    assert compat.to_text(u"\u2713") == u"\u2713"
    assert compat.to_text(5) == u"5"
    assert isinstance(compat.to_text("x"), compat.text_type)
    assert compat.to_text(b"\xe9", encoding="latin-1") == u"\u00e9"


def test_to_text_of_an_exception_with_a_non_ascii_message():
    assert compat.to_text(ValueError(u"caf\u00e9")) == u"caf\u00e9"
    assert compat.to_text(ValueError(compat.to_native(u"caf\u00e9"))) == u"caf\u00e9"


def test_fetch_error_with_a_non_ascii_reason():
    error = net.FetchError(u"wget: ERROR: The certificate of \u2018localhost\u2019 is not trusted.")
    assert compat.to_text(str(error)) == compat.to_text("%s" % error) == compat.to_text(error)
    assert u"%s: %s" % (u"https://x/", error) == "https://x/: " + error.reason  # unicode() on Python 2
    assert compat.to_text(error).endswith(u"of \u2018localhost\u2019 is not trusted.")


def test_to_bytes_and_native():
    assert compat.to_bytes(u"caf\u00e9") == b"caf\xc3\xa9"
    assert compat.to_bytes(b"\xff") == b"\xff"
    assert compat.to_bytes(7) == b"7"
    assert isinstance(compat.to_native(u"x"), str)
    assert isinstance(compat.to_native(b"x"), str)


@pytest.mark.parametrize("value,expected", [
    ("simple", "simple"),
    ("two words", "'two words'"),
    ("it's", "'it'\"'\"'s'"),
    ("$(rm -rf /)", "'$(rm -rf /)'"),
    ("", "''"),
    ("/LocalSite/SharedArea=/x", "/LocalSite/SharedArea=/x"),
])
def test_shell_quote(value, expected):
    assert compat.shell_quote(value) == expected


def test_shell_quote_round_trips_through_a_shell():
    value = "a b'c\"d $HOME `x` \\ ;&|"
    out = compat.check_output(["sh", "-c", "printf %s " + compat.shell_quote(value)])
    assert compat.to_text(out) == value


def test_shell_quote_of_text_with_non_ascii():
    assert compat.shell_quote(u"caf\u00e9") == u"'caf\u00e9'"


def test_shell_split_gives_native_words():
    words = compat.shell_split(u"--flavour 'el 7' x=\u00e9")
    assert words == [compat.to_native(w) for w in (u"--flavour", u"el 7", u"x=\u00e9")]
    assert all(isinstance(word, str) and "\x00" not in word for word in words)  # 2.6's shlex and unicode
    with pytest.raises(ValueError):
        compat.shell_split("a 'b")


def test_communicate_within_a_child_that_does_not_read_its_input():
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdout.write('early')"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            **compat.start_new_session_kwargs())
    expired, out, err = compat.communicate_within(proc, 30, b"x" * (1024 * 1024))
    assert (expired, out, proc.returncode) == (False, b"early", 0)


def test_communicate_within_feeds_its_input():
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read()[::-1])"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            **compat.start_new_session_kwargs())
    expired, out, err = compat.communicate_within(proc, 30, u"abc")
    assert (expired, out) == (False, b"cba")


def test_check_output():
    assert compat.check_output([sys.executable, "-c", "print('hi')"]).strip() == b"hi"
    with pytest.raises(subprocess.CalledProcessError) as info:
        compat.check_output([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert info.value.returncode == 3
    assert compat.check_output(["sh", "-c", "echo $X"], env={"X": "y", "PATH": os.environ["PATH"]}) == b"y\n"


def test_write_text_to_narrow_streams():
    if sys.version_info[0] == 2:
        stream = io.BytesIO()
        compat.write_text(stream, u"caf\u00e9\n")
        assert stream.getvalue() == b"caf\xc3\xa9\n"
    else:
        raw = io.BytesIO()
        stream = io.TextIOWrapper(raw, encoding="ascii")
        compat.write_text(stream, u"caf\u00e9\n")
        stream.flush()
        assert raw.getvalue() == b"caf?\n"


def test_start_new_session_kwargs():
    kwargs = compat.start_new_session_kwargs()
    child = subprocess.Popen([sys.executable, "-c", "import os; print(os.getsid(0) == os.getpid())"],
                             stdout=subprocess.PIPE, **kwargs)
    out, _ = helpers.communicate_with_timeout(child, 30)
    assert out.strip() == "True"


def test_get_data_reads_package_files():
    data = compat.get_data("pilot", "__init__.py")
    assert isinstance(data, bytes) and b"__version__" in data
    with pytest.raises((IOError, OSError)):
        compat.get_data("pilot", "no-such-file.txt")


def test_cpu_count():
    assert compat.cpu_count() >= 1


# -- compat.net ----------------------------------------------------------------------------------

def test_http_get(http_server, no_proxy):
    http_server.put("pilot.json", b"{\"a\": 1}\n")
    assert net.request(http_server.url("pilot.json"), timeout=10) == b"{\"a\": 1}\n"


def test_http_binary_body(http_server, no_proxy):
    payload = bytes(bytearray(range(256))) * 64
    http_server.put("blob.bin", payload)
    assert net.request(http_server.url("blob.bin"), timeout=10) == payload


def test_http_404(http_server, no_proxy):
    with pytest.raises(net.FetchError) as info:
        net.request(http_server.url("missing.json"), timeout=10)
    assert str(info.value).startswith("HTTP 404 ")
    assert "\n" not in str(info.value)


def test_connection_refused(no_proxy):
    with pytest.raises(net.FetchError) as info:
        net.request("http://127.0.0.1:%d/x" % helpers.free_port(), timeout=10)
    assert "refused" in str(info.value).lower()
    assert "\n" not in str(info.value)


def test_file_url(tmpdir):
    path = str(tmpdir.join("local.json"))
    helpers.write_text(path, b"local data")
    assert net.request("file://" + path) == b"local data"
    with pytest.raises(net.FetchError) as info:
        net.request("file://" + str(tmpdir.join("nothere")))
    assert "No such file" in str(info.value)


@pytest.mark.skipif(not helpers.has_ssl_context(), reason=helpers.NO_SSL_CONTEXT)
def test_https_with_ca_directory(https_server, certs, no_proxy):
    https_server.put("f.txt", b"secure")
    assert net.request(https_server.url("f.txt"), timeout=10, capath=certs.ca_dir) == b"secure"


@pytest.mark.skipif(not helpers.has_ssl_context(), reason=helpers.NO_SSL_CONTEXT)
def test_https_with_ca_file(https_server, certs, no_proxy):
    https_server.put("f.txt", b"secure")
    assert net.request(https_server.url("f.txt"), timeout=10, cafile=certs.ca_cert) == b"secure"


@pytest.mark.skipif(not helpers.has_ssl_context(), reason=helpers.NO_SSL_CONTEXT)
def test_https_without_ca_is_rejected(https_server, no_proxy):
    https_server.put("f.txt", b"secure")
    with pytest.raises(net.FetchError) as info:
        net.request(https_server.url("f.txt"), timeout=10)
    assert "certificate" in str(info.value).lower()
    assert "\n" not in str(info.value)


@pytest.mark.skipif(not helpers.has_ssl_context(), reason=helpers.NO_SSL_CONTEXT)
def test_https_trusts_the_same_certificates_on_every_python(tmpdir, no_proxy):
    """A CA without keyUsage (OpenSSL's default `req -x509`): OpenSSL, curl and Python 2.7-3.12
    accept its server; Python 3.13's create_default_context (VERIFY_X509_STRICT) refused it."""
    certs = helpers.TestCerts(str(tmpdir.mkdir("plain-ca")), ca_extensions="v3_plain_ca")
    server = helpers.FileServer(str(tmpdir.mkdir("www")), helpers.server_ssl_context(certs))
    try:
        server.put("f.txt", b"secure")
        assert net.request(server.url("f.txt"), timeout=10, capath=certs.ca_dir) == b"secure"
        with pytest.raises(net.FetchError) as info:   # still verified: not without the CA
            net.request(server.url("f.txt"), timeout=10)
        assert "certificate" in str(info.value).lower()
    finally:
        server.close()
    strict = getattr(compat.ssl_module(), "VERIFY_X509_STRICT", 0)
    assert not net.verifying_context().verify_flags & strict


@pytest.mark.skipif(not helpers.has_ssl_context(), reason=helpers.NO_SSL_CONTEXT)
def test_https_with_a_missing_ca_file_is_one_line(https_server, tmpdir, no_proxy):
    with pytest.raises(net.FetchError) as info:
        net.request(https_server.url("f.txt"), timeout=10, cafile=str(tmpdir.join("none.pem")))
    assert str(info.value).startswith("cannot set up TLS")


def test_choose_transport(monkeypatch):
    assert net.choose_transport("http://x/") == "python"
    assert net.choose_transport("file:///x") == "python"
    assert net.choose_transport("https://x/", "curl") == "curl"
    monkeypatch.setattr(compat, "has_ssl_context", lambda: False)
    if HAS_CURL:
        assert net.choose_transport("https://x/") == "curl"
    monkeypatch.setattr(net, "_which", lambda name, path=None: None)
    with pytest.raises(net.FetchError):
        net.choose_transport("https://x/")
    assert net.choose_transport("http://x/") == "python"


@pytest.mark.skipif(not HAS_CURL, reason="curl is not installed on this machine")
def test_curl_transport_http(http_server, no_proxy):
    http_server.put("c.txt", b"via curl")
    assert net.request(http_server.url("c.txt"), timeout=10, transport="curl") == b"via curl"
    with pytest.raises(net.FetchError) as info:
        net.request(http_server.url("missing"), timeout=10, transport="curl")
    assert str(info.value).startswith("curl: ") and "404" in str(info.value)
    with pytest.raises(net.FetchError) as info:
        net.request("http://127.0.0.1:%d/x" % helpers.free_port(), timeout=10, transport="curl")
    assert str(info.value).startswith("curl: ")


@pytest.mark.skipif(not HAS_CURL, reason="curl is not installed on this machine")
def test_curl_transport_https(https_server, certs, no_proxy, monkeypatch):
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    https_server.put("c.txt", b"curl tls")
    assert net.request(https_server.url("c.txt"), timeout=10, transport="curl", capath=certs.ca_dir) == b"curl tls"
    assert net.request(https_server.url("c.txt"), timeout=10, transport="curl", cafile=certs.ca_cert) == b"curl tls"
    with pytest.raises(net.FetchError) as info:
        net.request(https_server.url("c.txt"), timeout=10, transport="curl")
    assert str(info.value).startswith("curl: ")


@pytest.mark.skipif(not HAS_CURL, reason="curl is not installed on this machine")
def test_curl_headers_are_not_on_the_command_line(http_server, no_proxy, monkeypatch):
    seen = []
    original = net._run_tool

    def spy(args, data, what, limits=net.UNBOUNDED):
        seen.append(list(args))
        return original(args, data, what, limits)

    monkeypatch.setattr(net, "_run_tool", spy)
    http_server.put("h.txt", b"ok")
    assert net.request(http_server.url("h.txt"), timeout=10, transport="curl",
                       headers={"Authorization": "Bearer SECRET"}) == b"ok"
    assert "SECRET" not in " ".join(seen[0])


@pytest.mark.skipif(not HAS_WGET, reason="wget is not installed on this machine")
def test_wget_transport(http_server, https_server, certs, no_proxy):
    http_server.put("w.txt", b"via wget")
    assert net.request(http_server.url("w.txt"), timeout=10, transport="wget") == b"via wget"
    https_server.put("w.txt", b"wget tls")
    assert net.request(https_server.url("w.txt"), timeout=10, transport="wget", cafile=certs.ca_cert) == b"wget tls"
    with pytest.raises(net.FetchError):
        net.request(http_server.url("missing"), timeout=10, transport="wget")
    with pytest.raises(net.FetchError) as info:
        net.request(https_server.url("w.txt"), timeout=10, transport="wget")  # the test CA is not trusted
    assert str(info.value).startswith("wget: ") and "certificate" in str(info.value), info.value


@pytest.mark.skipif(not HAS_WGET, reason="wget is not installed on this machine")
def test_wget_sends_plain_headers_but_never_a_credential(http_server, no_proxy):
    http_server.put("h.txt", b"ok")
    assert net.request(http_server.url("h.txt"), timeout=10, transport="wget",
                       headers={"X-Pilot": "yes"}) == b"ok"
    with pytest.raises(net.FetchError) as info:
        net.request(http_server.url("h.txt"), timeout=10, transport="wget",
                    headers={"Authorization": "Bearer SECRET"})
    assert "install curl" in str(info.value) and "SECRET" not in str(info.value)
    assert len(http_server.requests) == 1
