"""HTTPS on a Python without the ssl module (2.6 here, a minimal build elsewhere).

The real pilot.pyz runs under such a Python and fetches pilot.json from a real
HTTPS server (the test CA's certificate): through curl, through wget, and with
neither on PATH (a one-line error, exit code 11).  It sends its log to an HTTPS
logbook through wget (curl: test_remotelog_pyz.py, run under 2.6 by the py26 env),
and says why remote logging is off where it cannot be done.  Under the py26 env the
pilot's Python is the env's own; run from a Python that has ssl, the tests
use the machine's 2.6 (.ci/provision-python26.sh) when the matrix includes it.
"""

import json
import os
import sys

import pytest

import helpers
import pilotjson_samples as samples
from compat import net
from doubles.log_receivers import LogbookDouble
from pilot import exitcodes


def _has_ssl(python):
    rc, out, err = helpers.run([python, "-c", "import ssl"], "/", timeout=30)
    return rc == 0


@pytest.fixture(scope="module")
def python_without_ssl():
    if not helpers.has_ssl_context():
        return sys.executable
    if "2.6" in helpers.MATRIX:
        python = helpers.find_interpreter("2.6")
        if python is not None and not _has_ssl(python):
            return python
    pytest.skip("Python %d.%d verifies HTTPS itself: the curl/wget fallback runs where a Python has no ssl "
                "module (the py26 env)" % sys.version_info[:2])


def _tools_only(tmpdir, *names):
    """A PATH holding only these tools (symlinks to the machine's)."""
    folder = tmpdir.mkdir("tools")
    for name in names:
        found = net._which(name)
        if found is None:
            pytest.fail("%s is not installed on this machine: the HTTPS fallback tests need it" % name)
        os.symlink(found, str(folder.join(name)))
    return str(folder)


def _fetch_pilot_json(python, workdir, https_server, certs, path, ca=True):
    https_server.put("pilot.json", json.dumps(samples.old_schema(extensions=False)))
    env = helpers.clean_env({"PATH": path, "X509_CERT_DIR": certs.ca_dir if ca else None})
    return helpers.run_pilot(["-F", https_server.url("pilot.json"), "-X", "GetPilotVersion"], workdir,
                             env=env, python=python, timeout=90)


@pytest.mark.parametrize("tool", ["curl", "wget"])
def test_pilot_json_over_https_through(tool, python_without_ssl, workdir, https_server, certs, tmpdir):
    rc, out, err = _fetch_pilot_json(python_without_ssl, workdir, https_server, certs,
                                     _tools_only(tmpdir, tool))
    assert rc == 0, out + err
    assert https_server.requests == ["/pilot.json"]
    result = helpers.load_result(workdir)
    assert result["parameters"]["releaseVersions"]["value"] == ["v10r2p3", "v10r2p2"]
    assert https_server.agents[0].lower().startswith(tool + "/")  # curl/7.88.1, Wget/1.21.3


@pytest.mark.parametrize("tool", ["curl", "wget"])
def test_an_untrusted_server_is_refused_through(tool, python_without_ssl, workdir, https_server, certs,
                                                tmpdir):
    rc, out, err = _fetch_pilot_json(python_without_ssl, workdir, https_server, certs,
                                     _tools_only(tmpdir, tool), ca=False)
    line = helpers.assert_one_line_error(rc, exitcodes.BY_NAME["NETWORK"].code, out, err, "pilot.json",
                                         "%s: " % tool)
    assert "certificate" in line.lower(), line


def test_neither_curl_nor_wget_is_one_line(python_without_ssl, workdir, https_server, certs, tmpdir):
    rc, out, err = _fetch_pilot_json(python_without_ssl, workdir, https_server, certs, _tools_only(tmpdir))
    helpers.assert_one_line_error(rc, exitcodes.BY_NAME["NODE"].code, out, err, "pilot.json",
                                  "cannot verify HTTPS and neither curl nor wget is on PATH")
    assert https_server.requests == []
    assert "retrying" not in out  # no tool will appear between two attempts


@pytest.fixture
def open_logbook(certs):
    """An HTTPS logbook that takes batches without a token."""
    server = helpers.https(lambda context: LogbookDouble(context), certs)
    yield server
    server.close()


def _log_to(python, workdir, logbook, certs, path, token=None):
    env = {"PATH": path, "X509_CERT_DIR": certs.ca_dir}
    if token:
        env["PILOT_LOGBOOK_TOKEN_FILE"] = helpers.write_text(os.path.join(workdir, "token"), token)
        os.chmod(env["PILOT_LOGBOOK_TOKEN_FILE"], 0o600)
    return helpers.run_pilot(["-X", "GetPilotVersion", "-r", "v1", "-g", logbook.endpoint], workdir,
                             env=helpers.clean_env(env), python=python, timeout=90)


def test_the_log_goes_to_an_https_logbook_through_wget(python_without_ssl, workdir, open_logbook, certs,
                                                       tmpdir):
    rc, out, err = _log_to(python_without_ssl, workdir, open_logbook, certs, _tools_only(tmpdir, "wget"))
    assert rc == 0, out + err
    figures = helpers.load_result(workdir)["remote_logging"]
    assert figures["sent"] == figures["messages"] > 0 and figures["unsent"] == 0, figures
    stored = open_logbook.messages_of()
    assert [m["seq"] for m in stored] == list(range(1, figures["messages"] + 1))
    assert stored[-1]["kind"] == "result"


def test_a_token_never_goes_through_wget(python_without_ssl, workdir, open_logbook, certs, tmpdir):
    rc, out, err = _log_to(python_without_ssl, workdir, open_logbook, certs, _tools_only(tmpdir, "wget"),
                           token="pt1.secret-token")
    assert rc == 0, out + err
    assert "remote logging is off: this Python cannot do HTTPS itself and the pilot token cannot go " \
           "through wget (its command line is public on the node): install curl" in out
    assert open_logbook.posts == [] and "secret-token" not in out + err


def test_stomp_over_tls_needs_ssl(python_without_ssl, workdir):
    rc, out, err = helpers.run_pilot(["-X", "GetPilotVersion", "-r", "v1", "-g",
                                      "stomp+ssl://localhost:%d/queue/pilots2.logs" % helpers.free_port()],
                                     workdir, python=python_without_ssl)
    assert rc == 0, out + err
    assert "remote logging is off: this Python (" in out and "STOMP over TLS is not possible" in out
    assert "Pilot exit code 0 (OK)" in helpers.pilot_out(workdir)
