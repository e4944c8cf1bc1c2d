# -*- coding: utf-8 -*-
"""pilot/node/environment.py: the environment of the pilot's children (never os.environ itself)."""

import json
import os
import stat
import sys

import pytest

import helpers
from pilot.node import environment
from pilot.sequence.proc import ProcessRunner


def _params(argv, work_dir):
    params, _ = helpers.resolve_params(argv, work_dir)
    return params


def _grid_security(root, names, files=True):
    """<root>/etc/grid-security/<name> for each name (with a file in it when files)."""
    for name in names:
        folder = os.path.join(root, "etc", "grid-security", name)
        os.makedirs(folder)
        if files:
            helpers.write_text(os.path.join(folder, "entry"), "x")
    return root


# -- security directories --------------------------------------------------------------------------

def test_cvmfs_location_wins_over_the_environment(tmpdir):
    cvmfs = _grid_security(str(tmpdir.join("cvmfs")), ["certificates", "vomsdir", "vomses"])
    mine = str(tmpdir.mkdir("mine"))
    environ = {"X509_CERT_DIR": mine, "X509_VOMS_DIR": mine, "X509_VOMSES": mine}
    found = environment.security_directories([cvmfs], environ)
    for variable, name in environment.SECURITY_DIRS:
        assert found[variable] == (os.path.join(cvmfs, "etc", "grid-security", name), "CVMFS %s" % cvmfs)


def test_first_cvmfs_location_with_the_directory_wins(tmpdir):
    first = _grid_security(str(tmpdir.join("first")), ["vomses"])
    second = _grid_security(str(tmpdir.join("second")), ["certificates", "vomses"])
    missing = str(tmpdir.join("missing"))
    found = environment.security_directories([missing, first, second], {})
    assert found["X509_CERT_DIR"][0] == os.path.join(second, "etc", "grid-security", "certificates")
    assert found["X509_VOMSES"][0] == os.path.join(first, "etc", "grid-security", "vomses")
    assert "X509_VOMS_DIR" not in found


def test_empty_cvmfs_directories_are_ignored(tmpdir):
    empty = _grid_security(str(tmpdir.join("empty")), ["certificates", "vomsdir", "vomses"], files=False)
    mine = str(tmpdir.mkdir("mine"))
    found = environment.security_directories([empty], {"X509_CERT_DIR": mine})
    assert found == {"X509_CERT_DIR": (mine, "environment")}


def test_environment_kept_when_cvmfs_has_nothing(tmpdir):
    certs = str(tmpdir.mkdir("certs"))
    voms = str(tmpdir.mkdir("voms"))
    found = environment.security_directories([str(tmpdir.join("nocvmfs"))],
                                             {"X509_CERT_DIR": certs, "X509_VOMS_DIR": voms, "X509_VOMSES": ""})
    assert found == {"X509_CERT_DIR": (certs, "environment"), "X509_VOMS_DIR": (voms, "environment")}


def test_environment_value_that_does_not_exist_is_not_used(tmpdir):
    found = environment.security_directories([], {"X509_CERT_DIR": str(tmpdir.join("gone"))})
    assert found == {}


def test_nothing_found(tmpdir):
    assert environment.security_directories([str(tmpdir)], {}) == {}


# -- the base environment ------------------------------------------------------------------------------

def test_base_environment_empties_and_saves_pythonpath(workdir):
    params = _params(["--pilotUUID=abcdef0123456789abcdef0123456789"], workdir)
    environ = {"PYTHONPATH": "/site/lib", "HOME": "/home/p"}
    env = environment.base_environment(environ, params)
    assert env["PYTHONPATH"] == ""
    assert env["PYTHONPATH_SAVE"] == "/site/lib"
    assert env["DIRAC_PILOT_STAMP"] == "abcdef0123456789abcdef0123456789"
    assert env["HOME"] == "/home/p"
    assert "X509_USER_PROXY" not in env
    assert environ == {"PYTHONPATH": "/site/lib", "HOME": "/home/p"}  # a new dict
    assert env is not environ


@pytest.mark.parametrize("flag", ["-k", "--keepPP"])
def test_base_environment_keeps_pythonpath(workdir, flag):
    params = _params([flag], workdir)
    env = environment.base_environment({"PYTHONPATH": "/site/lib"}, params)
    assert env["PYTHONPATH"] == "/site/lib"
    assert "PYTHONPATH_SAVE" not in env


def test_no_pythonpath_nothing_saved(workdir):
    env = environment.base_environment({"PATH": "/bin"}, _params([], workdir))
    assert "PYTHONPATH_SAVE" not in env
    assert env["DIRAC_PILOT_STAMP"]


def test_base_environment_with_cert_points_the_proxy_to_the_cert_dir(workdir, tmpdir):
    certs = str(tmpdir.mkdir("certs"))
    params = _params(["--cert", "--certLocation=%s" % certs], workdir)
    env = environment.base_environment({"X509_USER_PROXY": "/tmp/x509up_u1"}, params)
    assert env["X509_USER_PROXY"] == certs


def test_base_environment_relative_cert_location(workdir):
    params = _params(["--cert"], workdir)
    env = environment.base_environment({}, params)
    assert env["X509_USER_PROXY"] == os.path.join(workdir, "etc", "grid-security")


def test_base_environment_sets_the_security_directories(workdir):
    security = {"X509_CERT_DIR": ("/cvmfs/x/certificates", "CVMFS /cvmfs/x"),
                "X509_VOMSES": ("/cvmfs/x/vomses", "CVMFS /cvmfs/x")}
    env = environment.base_environment({"X509_CERT_DIR": "/old"}, _params([], workdir), security)
    assert env["X509_CERT_DIR"] == "/cvmfs/x/certificates"
    assert env["X509_VOMSES"] == "/cvmfs/x/vomses"
    assert env["DIRAC_VOMSES"] == "/cvmfs/x/vomses"


def test_base_environment_never_touches_os_environ(workdir, monkeypatch, tmpdir):
    monkeypatch.setenv("PYTHONPATH", "/pilot/test/path")
    monkeypatch.delenv("PYTHONPATH_SAVE", raising=False)
    monkeypatch.delenv("X509_USER_PROXY", raising=False)
    before = dict(os.environ)
    params = _params(["--cert", "--certLocation=%s" % tmpdir], workdir)
    env = environment.base_environment(os.environ, params,
                                       {"X509_CERT_DIR": (str(tmpdir), "environment")})
    env["NEW"] = "x"
    assert dict(os.environ) == before
    assert env["PYTHONPATH"] == ""


# -- capturing a release's rc file ---------------------------------------------------------------------

TRICKY = {
    "WITH_SPACES": "a b  c",
    "WITH_NEWLINE": "line one\nline two",
    "WITH_QUOTES": "it's \"quoted\"",
    "WITH_DOLLAR": "$HOME and `date` and $(id)",
    "WITH_BACKSLASH": "a\\b\\\\c",
    "WITH_UTF8": u"caf\u00e9 \u2713",
}


def _rc_with(path, values, extra=""):
    """An rc file exporting ``values`` (bash $'...' quoting written by hand)."""
    lines = []
    for name in sorted(values):
        value = values[name]
        escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
        lines.append(u"export %s=$'%s'\n" % (name, escaped))
    helpers.write_text(path, u"".join(lines) + extra)
    return path


def _capture(rc_file, base_env):
    logger, sink = helpers.make_logger(debug=True)
    env, problem = environment.capture_rc(rc_file, base_env, ProcessRunner(grace=1), logger.source("InstallDIRAC"))
    return env, problem, sink


def _base_env():
    return helpers.clean_env({"BASE_ONLY": "kept", "SHARED": "from base"})


def _native(value):
    """A value as os.environ holds it: bytes on Python 2."""
    return value.encode("utf-8") if sys.version_info[0] == 2 else value


@pytest.mark.parametrize("through", ["proc", "json"])
def test_capture_rc_gets_every_exported_value(tmpdir, monkeypatch, through):
    monkeypatch.chdir(str(tmpdir))
    if through == "json":  # a node without /proc: the interpreter prints the environment
        monkeypatch.setattr(environment, "PROC_ENVIRON", str(tmpdir.join("no-proc")))
    rc = _rc_with(str(tmpdir.join("diracosrc")), TRICKY,
                  'export PATH="/release/bin:$PATH"\nexport SHARED="from rc"\nunset_me=1\n')
    base = _base_env()
    env, problem, _ = _capture(rc, base)
    assert problem is None
    for name, value in TRICKY.items():
        assert env[name] == (_native(value) if through == "proc" else value), name
    assert sorted(os.listdir(str(tmpdir))) == ["diracosrc"]  # the dump is gone
    assert env["PATH"] == "/release/bin:" + base["PATH"]
    assert env["SHARED"] == "from rc"
    assert env["BASE_ONLY"] == "kept"
    assert "unset_me" not in env                      # not exported
    assert base["SHARED"] == "from base"              # the base is not changed


def test_capture_rc_keeps_bytes_that_are_not_utf8(tmpdir, monkeypatch):
    """... and works when the rc file leaves no usable PATH (cat is run by its path)."""
    monkeypatch.chdir(str(tmpdir))
    rc = str(tmpdir.join("rc"))
    helpers.write_text(rc, "export LATIN1=$'caf\\xe9'\nexport EQUALS='a=b=c'\nexport PATH=/nowhere\n")
    env, problem, _ = _capture(rc, _base_env())
    assert problem is None
    assert env["EQUALS"] == "a=b=c" and env["PATH"] == "/nowhere"
    if sys.version_info[0] == 2:
        assert env["LATIN1"] == b"caf\xe9"
    else:  # as os.environ would hold it, and os.fsencode gives the bytes back
        assert os.fsencode(env["LATIN1"]) == b"caf\xe9"  # novm


def test_capture_rc_does_not_start_an_interpreter_on_linux(tmpdir, monkeypatch):
    """cat copies the environment from /proc: the interpreter given is never run."""
    monkeypatch.chdir(str(tmpdir))
    rc = _rc_with(str(tmpdir.join("rc")), {"FROM_RC": "yes"})
    logger, _ = helpers.make_logger(debug=True)
    env, problem = environment.capture_rc(rc, _base_env(), ProcessRunner(grace=1), logger.source("InstallDIRAC"),
                                          python=str(tmpdir.join("no-such-python")))
    assert problem is None and env["FROM_RC"] == "yes"


def test_capture_rc_skips_shell_bookkeeping(tmpdir):
    rc = _rc_with(str(tmpdir.join("rc")), {"SSH_AUTH_SOCK": "/tmp/agent", "MY_SSH_THING": "x", "KEEP": "y"},
                  "cd /\nexport OLDPWD=/somewhere\nf() { echo hi; }\nexport -f f\n")
    base = _base_env()
    base.pop("SSH_AUTH_SOCK", None)
    base.pop("OLDPWD", None)
    env, problem, _ = _capture(rc, base)
    assert problem is None
    assert env["KEEP"] == "y"
    for name in ("SSH_AUTH_SOCK", "MY_SSH_THING", "_", "SHLVL", "OLDPWD"):
        assert env.get(name) == base.get(name), name
    assert env.get("PWD") == base.get("PWD")
    assert not [name for name in env if name.startswith("BASH_FUNC_")]


def test_capture_rc_failing_rc_gives_a_reason(tmpdir):
    rc = str(tmpdir.join("rc"))
    helpers.write_text(rc, "export A=1\nfalse\nreturn 3\n")
    env, problem, _ = _capture(rc, _base_env())
    assert env is None
    assert problem and "3" in problem


def test_capture_rc_missing_file(tmpdir):
    env, problem, _ = _capture(str(tmpdir.join("missing")), _base_env())
    assert env is None
    assert problem


def test_capture_rc_path_is_never_interpolated(tmpdir):
    folder = tmpdir.mkdir("odd $(touch pwned) `touch pwned2` dir")
    rc = _rc_with(str(folder.join("diracosrc")), {"FROM_ODD": "yes"})
    env, problem, _ = _capture(rc, _base_env())
    assert problem is None
    assert env["FROM_ODD"] == "yes"
    assert not os.path.exists(os.path.join(str(tmpdir), "pwned"))
    assert not os.path.exists("pwned") and not os.path.exists("pwned2")


def test_the_dumped_environment_never_reaches_the_log(tmpdir):
    secret = "s3cr3t-value-for-the-log-test"
    rc = _rc_with(str(tmpdir.join("rc")), {"RELEASE_TOKEN": secret, "OTHER": "plain"},
                  "echo %s\necho %s >&2\n" % (secret, secret))
    base = _base_env()
    base["BASE_PASSWORD"] = secret + "-base"
    env, problem, sink = _capture(rc, base)
    assert problem is None
    assert env["RELEASE_TOKEN"] == secret
    text = sink.text()
    assert secret not in text
    assert "OTHER" not in text  # no part of the dump
    for record, line in zip(sink.records, sink.lines):
        assert secret not in line


# -- export files -----------------------------------------------------------------------------------

def _bash_env(path):
    """The environment after ``source path`` in a clean bash, as a dict."""
    script = 'source "$1" && exec "$2" -c "import json, os, sys; sys.stdout.write(json.dumps(dict(os.environ)))"'
    rc, out, err = helpers.run(["/bin/bash", "-c", script, "check", path, sys.executable], "/",
                               env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}, timeout=30)
    assert rc == 0, err
    return json.loads(out)


def test_write_exports_round_trips_through_bash(tmpdir):
    path = str(tmpdir.join("environmentSourceDirac"))
    env = dict(TRICKY)
    env["PLAIN"] = "value"
    env["EMPTY"] = ""
    written = environment.write_exports(path, env)
    assert written == len(env)
    sourced = _bash_env(path)
    for name, value in env.items():
        assert sourced[name] == value, name
    text = helpers.read_text(path)
    assert all(line.startswith("export ") for line in text.splitlines() if line.strip() and "=" in line)


def test_write_exports_only_what_the_release_added_or_changed(tmpdir):
    path = str(tmpdir.join("bashrc"))
    base = {"HOME": "/home/p", "PATH": "/bin"}
    env = {"HOME": "/home/p", "PATH": "/release/bin:/bin", "DIRAC": "/release"}
    assert environment.write_exports(path, env, base) == 2
    text = helpers.read_text(path)
    assert "HOME" not in text
    assert "export DIRAC=/release\n" in text
    assert "export PATH=/release/bin:/bin\n" in text


@pytest.mark.parametrize("name", ["FOO_TOKEN", "BEARER_TOKEN", "X509_USER_PROXY", "PASSWORD", "DB_PASSWORD",
                                  "MY_PASSWD", "CLIENT_SECRET", "AWS_SECRET", "SSH_KEY", "ssh_key",
                                  "api_token", "S3_ACCESSKEY"])
def test_secrets_are_never_written(tmpdir, name):
    path = str(tmpdir.join("environmentSourceDirac"))
    environment.write_exports(path, {name: "hidden-value", "VISIBLE": "shown"})
    text = helpers.read_text(path)
    assert "hidden-value" not in text
    assert name not in text
    assert "export VISIBLE=shown" in text


def test_shell_bookkeeping_is_never_written(tmpdir):
    path = str(tmpdir.join("environmentSourceDirac"))
    environment.write_exports(path, {"_": "/usr/bin/env", "SHLVL": "2", "PWD": "/x", "OLDPWD": "/y",
                                     "BASH_FUNC_f%%": "() { :; }", "SSH_CONNECTION": "1 2 3 4", "A": "b"})
    assert helpers.read_text(path) == "export A=b\n"


def test_exports_file_is_private(tmpdir):
    path = str(tmpdir.join("environmentSourceDirac"))
    old = os.umask(0)
    try:
        environment.write_exports(path, {"A": "b"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # rewriting an existing, more open file makes it private too
    os.chmod(path, 0o644)
    environment.write_exports(path, {"A": "c"})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert helpers.read_text(path) == "export A=c\n"
