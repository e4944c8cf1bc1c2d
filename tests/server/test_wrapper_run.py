"""Wrappers generated and run for real, under /bin/sh (dash) and bash, with each interpreter
present as the only Python on PATH (a PATH of one symlink plus every other command of
/usr/bin and /bin, so the host's /usr/bin/python3 is not found)."""

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import zipfile

import pytest

from conftest import INTERPRETERS, sandbox_env
from pilot_server import signing, tokens, wrapper

PILOT_OPTIONS = ["-X", "GetPilotVersion,CheckWorkerNode", "-r", "v9.0.0", "-D", "10"]
SHELLS = [shell for shell in ("/bin/sh", "/bin/bash") if os.path.exists(shell)]
RUN_TIMEOUT = 120


@pytest.fixture(scope="module")
def verified(signed_pyz, keys):
    return wrapper.verify(signed_pyz, [keys.public["a"]])


def write_script(tmp_path, made, name="wrapper.sh"):
    path = str(tmp_path / name)
    made.write(path)
    return path


def run(script, env, cwd, shell="/bin/sh", timeout=RUN_TIMEOUT):
    proc = subprocess.run(
        [shell, script],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def work_dir_of(out):
    match = re.search(r"\[Wrapper\] work directory: (\S+)", out)
    return match.group(1) if match else None


def link_name(env_name):
    return "python" if env_name == "py27" else "python3"


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("env_name, python", INTERPRETERS)
def test_batch_wrapper_runs_the_pilot_with_the_only_python(verified, tools_dir, tmp_path, shell, env_name, python):
    made = wrapper.make_wrapper("batch", verified, PILOT_OPTIONS)
    script = write_script(tmp_path, made)
    env = sandbox_env(tools_dir, python, link_name(env_name), str(tmp_path / "bin"), {"TMPDIR": str(tmp_path)})
    code, out, err = run(script, env, str(tmp_path), shell)
    assert code == 0, out + err
    want = "%s.%s." % (env_name[2], env_name[3:])
    assert "Python: %s (%s" % (os.path.join(str(tmp_path / "bin"), link_name(env_name)), want) in out, out
    assert "[GetPilotVersion] DIRAC version v9.0.0" in out
    work = work_dir_of(out)
    assert work and work.startswith(str(tmp_path) + "/pilot.")
    result = json.load(open(os.path.join(work, "pilot_result.json")))
    assert result["pilot"]["stamp"] == made.stamp
    assert re.match(re.escape(want[:-1]) + r"(\.|rc)", result["pilot"]["python"])  # also 2.6rc2
    assert "--pilotUUID %s" % made.stamp in open(os.path.join(work, "pilot.out")).read()
    assert os.path.exists(str(tmp_path / ("pilot-%s.out" % made.stamp)))  # the log is also copied out
    assert os.path.exists(os.path.join(work, "wrapper.log"))


@pytest.mark.parametrize("shell", SHELLS)
def test_pilot_exit_code_passes_through(verified, tools_dir, tmp_path, shell):
    env_name, python = INTERPRETERS[-1]
    made = wrapper.make_wrapper("batch", verified, ["-X", "CheckWorkerNode", "-D", "99999999"])
    env = sandbox_env(tools_dir, python, link_name(env_name), str(tmp_path / "bin"), {"TMPDIR": str(tmp_path)})
    code, out, err = run(write_script(tmp_path, made), env, str(tmp_path), shell)
    assert code == 11, out + err
    assert "the pilot exited with code 11" in out


@pytest.mark.parametrize("encoding", ["b94", "pyz", "raw"])
def test_payload_encodings_run_the_signed_pyz(verified, tools_dir, tmp_path, encoding):
    # The size target is tracked by bench/bench_wrapper.py (docs/performance.md): measured, not asserted.
    made = wrapper.make_wrapper("batch", verified, PILOT_OPTIONS, encoding=encoding)
    if encoding == "b94":
        assert made.size < wrapper.make_wrapper("batch", verified, PILOT_OPTIONS, encoding="pyz").size
    if encoding == "raw":  # the pyz's bytes after the script's last line, no NUL or CR (sbatch)
        assert made.text.endswith("\nexit 3\n") and made.tail.endswith(wrapper.b254encode(verified.data))
        assert "pw_stage_start" not in made.text and "pw_check_sha256" in wrapper.read_stage(made)  # stage in the tail
        assert b"\0" not in made.data and b"\r" not in made.data
        assert made.size < wrapper.make_wrapper("batch", verified, PILOT_OPTIONS).size
    assert made.payload_sha256 == verified.sha256  # the node runs the signed bytes, not a re-pack
    for (env_name, python), shell in ((INTERPRETERS[0], SHELLS[0]), (INTERPRETERS[-1], SHELLS[-1])):
        bin_dir = str(tmp_path / ("bin-" + env_name))
        env = sandbox_env(tools_dir, python, link_name(env_name), bin_dir, {"TMPDIR": str(tmp_path)})
        # by a relative path, as a batch system may start it (a raw payload is read from "$0")
        code, out, err = run(os.path.basename(write_script(tmp_path, made)), env, str(tmp_path), shell)
        assert code == 0, out + err
        assert "sha256 %s as expected" % verified.sha256 in out
        with open(os.path.join(work_dir_of(out), "pilot.pyz"), "rb") as handle:
            assert handle.read() == verified.data


def test_base94_round_trip_and_alphabet():
    for data in (b"", b"\0", bytes(range(256)) * 3, os.urandom(67), os.urandom(68), os.urandom(69), b"\xff" * 136):
        text = wrapper.b94encode(data)
        assert set(text) <= set(chr(c) for c in range(33, 127)), data  # printable, no space
        assert len(text) == 1 + 83 * -(-len(data) // 68)
        assert wrapper.b94decode(text) == data


def test_base254_round_trip_without_nul_or_cr():
    for data in (b"", b"\0", b"\r\n", bytes(range(256)) * 3, os.urandom(705), os.urandom(706), os.urandom(707)):
        coded = wrapper.b254encode(data)
        assert b"\0" not in coded and b"\r" not in coded, data
        assert len(coded) == len(data) + -(-len(data) // 706)  # one byte more per block of 706
        assert wrapper.b254decode(coded) == data
    assert wrapper.b254encode(b"\0" * 706) == b"\1" * 707  # digit 0 is the byte 1


def one_python_env(tools_dir, tmp_path, extra=None):
    env_name, python = INTERPRETERS[-1]
    base = {"TMPDIR": str(tmp_path)}
    base.update(extra or {})
    return sandbox_env(tools_dir, python, link_name(env_name), str(tmp_path / "bin"), base)


def test_tampered_payload_is_refused_with_255(verified, tools_dir, tmp_path):
    text = wrapper.make_wrapper("batch", verified, PILOT_OPTIONS).text
    lines = text.split("\n")
    start = lines.index("\tcat <<'PILOT_PAYLOAD_END'") + 1
    target = start + 10
    lines[target] = ("B" if lines[target][0] != "B" else "C") + lines[target][1:]
    script = tmp_path / "tampered.sh"
    script.write_text("\n".join(lines))
    code, out, err = run(str(script), one_python_env(tools_dir, tmp_path), str(tmp_path))
    assert code == 255, out + err
    assert "failed its sha256 check" in err


def test_undecodable_payload_is_an_unpack_failure_3(verified, tools_dir, tmp_path):
    text = wrapper.make_wrapper("batch", verified, PILOT_OPTIONS).text
    text = re.sub(r"(cat <<'PILOT_PAYLOAD_END'\n).*?(\nPILOT_PAYLOAD_END)", r"\1A\2", text, flags=re.S)
    script = tmp_path / "broken.sh"
    script.write_text(text)
    code, out, err = run(str(script), one_python_env(tools_dir, tmp_path), str(tmp_path))
    assert code == 3, out + err
    assert "cannot decode the embedded pilot" in err


def test_undecodable_stage_is_an_unpack_failure_3(verified, tools_dir, tmp_path):
    text = wrapper.make_wrapper("batch", verified, PILOT_OPTIONS).text
    text = re.sub(r"(cat <<'PILOT_STAGE_END'\n).*?(\nPILOT_STAGE_END)", r"\1A\2", text, flags=re.S)
    script = tmp_path / "broken.sh"
    script.write_text(text)
    code, out, err = run(str(script), one_python_env(tools_dir, tmp_path), str(tmp_path))
    assert code == 3, out + err
    assert "cannot unpack the wrapper's stage" in err
    assert "work directory" not in out  # nothing of the stage ran


def test_wrong_checksum_is_255(verified, tools_dir, tmp_path):
    made = wrapper.make_wrapper("batch", verified, PILOT_OPTIONS)
    text = made.text.replace("pw_sha256='%s'" % made.payload_sha256, "pw_sha256='%s'" % ("0" * 64))
    assert text != made.text
    script = tmp_path / "wrongsum.sh"
    script.write_text(text)
    code, out, err = run(str(script), one_python_env(tools_dir, tmp_path), str(tmp_path))
    assert code == 255, out + err


@pytest.mark.parametrize("shell", SHELLS)
def test_no_python_at_all_is_4(verified, tools_dir, tmp_path, shell):
    script = write_script(tmp_path, wrapper.make_wrapper("batch", verified, PILOT_OPTIONS))
    env = sandbox_env(tools_dir, extra={"TMPDIR": str(tmp_path)})
    code, out, err = run(script, env, str(tmp_path), shell)
    assert code == wrapper.EXIT_NO_PYTHON == 4, out + err
    assert "no usable Python" in err


def test_too_old_python_is_not_used(verified, tools_dir, tmp_path):
    fake = tmp_path / "fake" / "python3"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nprintf '2.5.6'\nexit 1\n")
    fake.chmod(0o755)
    env = sandbox_env(tools_dir, str(fake), "python3", str(tmp_path / "bin"), {"TMPDIR": str(tmp_path)})
    code, out, err = run(write_script(tmp_path, wrapper.make_wrapper("batch", verified)), env, str(tmp_path))
    assert code == 4, out + err


def test_unwritable_start_directory(verified, tools_dir, tmp_path):
    # /proc refuses new files even to root: the wrapper writes only in its own directory under $TMPDIR.
    made = wrapper.make_wrapper("batch", verified, PILOT_OPTIONS)
    code, out, err = run(write_script(tmp_path, made), one_python_env(tools_dir, tmp_path), "/proc")
    assert code == 0, out + err
    assert work_dir_of(out).startswith(str(tmp_path) + "/pilot.")


def test_work_base_order(verified, tools_dir, tmp_path):
    made = wrapper.make_wrapper("batch", verified, PILOT_OPTIONS)
    script = write_script(tmp_path, made)
    scratch = tmp_path / "condor"
    scratch.mkdir()
    env = one_python_env(tools_dir, tmp_path, {"_CONDOR_SCRATCH_DIR": str(scratch), "TMPDIR": "/nonexistent"})
    code, out, err = run(script, env, "/proc")
    assert code == 0 and work_dir_of(out).startswith(str(scratch) + "/pilot."), out + err
    chosen = tmp_path / "base"
    chosen.mkdir()
    env["PILOT_WORK_BASE"] = str(chosen)
    code, out, err = run(script, env, "/proc")
    assert code == 0 and work_dir_of(out).startswith(str(chosen) + "/pilot."), out + err


def test_options_are_quoted_not_interpreted(verified, tools_dir, tmp_path):
    marker = tmp_path / "pwned"
    site = 'LCG.it\'s "$(touch %s)" `touch %s` ; $HOME *' % (marker, marker)
    made = wrapper.make_wrapper("batch", verified, PILOT_OPTIONS + ["-n", site])
    code, out, err = run(write_script(tmp_path, made), one_python_env(tools_dir, tmp_path), str(tmp_path))
    assert code == 0, out + err
    assert not marker.exists()
    result = json.load(open(os.path.join(work_dir_of(out), "pilot_result.json")))
    assert result["parameters"]["site"]["value"] == site


def test_bad_inputs_are_refused_before_anything_is_written(verified):
    for argv, reason in (
        (["--no-such-option"], "unknown option"),
        (["-n", "a\nb"], "control character"),
        (["--pilotUUID", "0" * 32], "--stamp"),
        (["-D", "lots"], "whole number"),
    ):
        with pytest.raises(wrapper.WrapperError) as refused:
            wrapper.make_wrapper("batch", verified, argv)
        assert reason in str(refused.value)
    with pytest.raises(wrapper.WrapperError):
        wrapper.make_wrapper("batch", verified, stamp="NOT-A-STAMP")
    with pytest.raises(wrapper.WrapperError):
        wrapper.make_wrapper("fetch", verified, urls=["https://example.org/p.pyz'; rm -rf /"])
    with pytest.raises(wrapper.WrapperError):
        wrapper.make_wrapper("batch", verified, work_base="relative/dir")
    with pytest.raises(wrapper.WrapperError):
        wrapper.make_wrapper("batch", verified.path)  # not verified first


def test_unsigned_or_wrongly_signed_artifact_is_refused(signed_pyz, keys, tmp_path):
    with pytest.raises(wrapper.WrapperError) as refused:
        wrapper.verify(signed_pyz, [keys.public["b"]])
    assert "not in the trust store" in str(refused.value)
    copy = tmp_path / "pilot.pyz"
    shutil.copy(signed_pyz, str(copy))
    with pytest.raises(wrapper.WrapperError) as refused:
        wrapper.verify(str(copy), [keys.public["a"]])
    assert "is not signed" in str(refused.value)
    shutil.copy(signed_pyz + ".sig", str(copy) + ".sig")
    open(str(copy), "ab").write(b"\0")  # one byte more, no manifest
    with pytest.raises(wrapper.WrapperError) as refused:
        wrapper.verify(str(copy), [keys.public["a"]])
    assert "content does not match" in str(refused.value)


def test_logbook_token_goes_to_a_0600_file_never_to_the_output(verified, tools_dir, tmp_path):
    secret = tokens.generate_secret()
    made = wrapper.make_wrapper("batch", verified, PILOT_OPTIONS, token_secret=secret, token_ttl=3600)
    token = re.search(r"pw_token='([^']+)'", made.text).group(1)
    assert tokens.verify_token(token, [secret], stamp=made.stamp)["stamp"] == made.stamp
    script = write_script(tmp_path, made)
    assert oct(os.stat(script).st_mode & 0o777) == oct(0o700)
    code, out, err = run(script, one_python_env(tools_dir, tmp_path), str(tmp_path))
    assert code == 0, out + err
    assert token not in out + err
    token_file = os.path.join(work_dir_of(out), "logbook.token")
    assert os.stat(token_file).st_mode & 0o777 == 0o600
    assert open(token_file).read().strip() == token
    assert "PILOT_LOGBOOK_TOKEN_FILE (%s)" % token_file in out
    assert token not in open(os.path.join(work_dir_of(out), "pilot.out")).read()


def test_pilotctl_wrapper_cli(signed_pyz, keys, tmp_path, capsys):
    from pilot_server import cli

    secret_file = str(tmp_path / "secret")
    tokens.write_secret(secret_file, tokens.generate_secret())
    out_file = str(tmp_path / "w.sh")
    stamp = "0123456789abcdef0123456789abcdef"
    code = cli.main(
        [
            "wrapper",
            "--variant",
            "batch",
            "--artifact",
            signed_pyz,
            "--trust",
            keys.public["a"],
            "--output",
            out_file,
            "--stamp",
            stamp,
            "--token-secret",
            secret_file,
            "--",
        ]
        + PILOT_OPTIONS
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "stamp %s" % stamp in captured.out and "logbook token until" in captured.out
    token = re.search(r"pw_token='([^']+)'", open(out_file).read()).group(1)
    assert token not in captured.out + captured.err
    code = cli.main(
        [
            "wrapper",
            "--variant",
            "batch",
            "--artifact",
            signed_pyz,
            "--trust",
            keys.public["b"],
            "--output",
            str(tmp_path / "x.sh"),
        ]
    )
    assert code == 1 and "refusing" in capsys.readouterr().err
    assert not os.path.exists(str(tmp_path / "x.sh"))


def test_signal_is_passed_to_the_pilot(keys, tools_dir, tmp_path):
    # A stand-in pilot that waits for SIGTERM; signed like the real one, so the wrapper takes it.
    pyz = str(tmp_path / "sleeper.pyz")
    with zipfile.ZipFile(pyz, "w") as archive:
        archive.writestr(
            "__main__.py",
            "import signal, sys, time\n"
            "def stop(signum, frame):\n"
            "    sys.stdout.write('pilot got %d\\n' % signum)\n"
            "    sys.exit(128 + signum)\n"
            "signal.signal(signal.SIGTERM, stop)\n"
            "sys.stdout.write('pilot ready\\n')\n"
            "sys.stdout.flush()\n"
            "time.sleep(60)\n",
        )
    signing.sign_artifact(pyz, signing.load_private_key(keys.private["a"]))
    made = wrapper.make_wrapper("batch", wrapper.verify(pyz, [keys.public["a"]]))
    script = write_script(tmp_path, made)
    proc = subprocess.Popen(
        ["/bin/sh", script],
        env=one_python_env(tools_dir, tmp_path),
        cwd=str(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines = []
    for line in iter(proc.stdout.readline, b""):
        lines.append(line.decode())
        if "pilot ready" in lines[-1]:
            break
    proc.send_signal(signal.SIGTERM)  # to the wrapper shell only, as a batch system may do
    rest = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 143, "".join(lines) + rest
    assert "got SIGTERM: passing it to the pilot" in rest and "pilot got 15" in rest


@pytest.mark.parametrize("with_timeout", [True, False], ids=["timeout(1)", "background-kill"])
def test_a_python_that_hangs_is_skipped(verified, tools_dir, tmp_path, with_timeout):
    """The version probe of each candidate is bounded by PILOT_PYTHON_PROBE_SECONDS."""
    tools = tools_dir
    if not with_timeout:  # the same tools without timeout(1): the wrapper's own watchdog
        tools = str(tmp_path / "tools")
        os.mkdir(tools)
        for name in os.listdir(tools_dir):
            if name != "timeout":
                os.symlink(os.readlink(os.path.join(tools_dir, name)), os.path.join(tools, name))
    hanging = tmp_path / "bin" / "python3"
    hanging.parent.mkdir()
    hanging.write_text("#!/bin/sh\nexec sleep 600\n")
    hanging.chmod(0o755)
    env_name, python = INTERPRETERS[-1]
    env = sandbox_env(
        tools, python, "python", str(tmp_path / "bin"), {"TMPDIR": str(tmp_path), "PILOT_PYTHON_PROBE_SECONDS": "2"}
    )
    code, out, err = run(
        write_script(tmp_path, wrapper.make_wrapper("batch", verified, PILOT_OPTIONS)), env, str(tmp_path)
    )
    assert code == 0, out + err
    assert "Python: %s (" % str(tmp_path / "bin" / "python") in out, out


HANDOFF_EXTENSION = """
import os
import time

from pilot.commands.base import Command


class Doze(Command):
    \"\"\"Logs DOZING, then waits (at most 60 s) to be killed.\"\"\"

    def execute(self):
        self.log.info("DOZING")
        deadline = time.time() + 60
        while time.time() < deadline:
            time.sleep(0.1)
"""


def test_the_log_of_a_killed_pilot_is_handed_off_on_the_wrapper_exit_path(verified, tools_dir, tmp_path):
    import glob
    import socket

    exts = tmp_path / "exts"
    exts.mkdir()
    (exts / "DozeCommands.py").write_text(HANDOFF_EXTENSION)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    url = "http://127.0.0.1:%d/api/v1/logs" % probe.getsockname()[1]  # nothing listens: an outage
    probe.close()
    made = wrapper.make_wrapper(
        "batch",
        verified,
        ["-X", "GetPilotVersion,Doze", "-r", "v9.0.0", "-E", "Doze", "--extensions-dir", str(exts), "-g", url],
    )
    handoff = str(tmp_path / "handoff")
    base = tmp_path / "base"
    base.mkdir()
    env = one_python_env(tools_dir, tmp_path, {"PILOT_WORK_BASE": str(base), "PILOT_LOG_HANDOFF": handoff})
    proc = subprocess.Popen(
        ["/bin/sh", write_script(tmp_path, made)],
        env=env,
        cwd=str(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 90
        pilot = None
        while time.time() < deadline and pilot is None:
            spools = glob.glob(str(base / "pilot.*" / "pilot_log.spool"))
            outs = glob.glob(str(base / "pilot.*" / "pilot.out"))
            if spools and outs and "DOZING" in open(outs[0]).read():
                pilot = _pid_of(os.path.dirname(outs[0]) + "/pilot.pyz")
            time.sleep(0.1)
        assert pilot, "the pilot did not reach Doze with a spool"
        os.kill(pilot, signal.SIGKILL)
        out = proc.communicate(timeout=90)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 137, out
    assert "log hand-off: the unsent log of" in out and "waits in %s/" % handoff in out, out
    names = os.listdir(handoff)
    assert len(names) == 1 and names[0].startswith(made.stamp + "."), names
    header = json.loads(open(os.path.join(handoff, names[0]), "rb").readline().decode())
    assert header["stamp"] == made.stamp and header["url"] == url and header["messages"] > 0


def _pid_of(word):
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if word.encode() in argv:
            return int(entry)
    return None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_dir(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **k: _Quiet(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("env_name, python", [INTERPRETERS[0], INTERPRETERS[-1]])
def test_fetch_wrapper_downloads_and_checks(
    verified, signed_pyz, keys, tools_dir, tmp_path, http_dir, env_name, python
):
    root, base = http_dir
    shutil.copy(signed_pyz, str(root / "pilot.pyz"))
    shutil.copy(signed_pyz + ".sig", str(root / "pilot.pyz.sig"))
    urls = ["http://127.0.0.1:1/pilot.pyz", base + "/missing.pyz", base + "/pilot.pyz"]
    made = wrapper.make_wrapper("fetch", verified, PILOT_OPTIONS, urls=urls, fetch_rounds=1)
    assert made.size < 32 * 1024
    env = sandbox_env(tools_dir, python, link_name(env_name), str(tmp_path / "bin"), {"TMPDIR": str(tmp_path)})
    code, out, err = run(write_script(tmp_path, made), env, str(tmp_path))
    assert code == 0, out + err
    assert "rsaverify: OK" in out and "pilot.pyz from %s/pilot.pyz" % base in out
    assert "http://127.0.0.1:1/pilot.pyz: download failed" in out


def test_fetch_refuses_a_signature_of_another_key(verified, signed_pyz, keys, tools_dir, tmp_path, http_dir):
    root, base = http_dir
    shutil.copy(signed_pyz, str(root / "pilot.pyz"))
    other = signing.sign_bytes(open(signed_pyz, "rb").read(), signing.load_private_key(keys.private["b"]))
    (root / "pilot.pyz.sig").write_bytes(other)
    for check in ("both", "signature"):
        made = wrapper.make_wrapper(
            "fetch", verified, PILOT_OPTIONS, urls=[base + "/pilot.pyz"], fetch_check=check, fetch_rounds=1
        )
        code, out, err = run(write_script(tmp_path, made), one_python_env(tools_dir, tmp_path), str(tmp_path))
        assert code == 255, out + err
        assert "REJECTED" in out and "not made with key %s" % keys.ids["a"] in out


def test_fetch_checks_the_pinned_sha256(verified, tools_dir, tmp_path, http_dir):
    root, base = http_dir
    (root / "pilot.pyz").write_bytes(b"PK not the pilot")
    made = wrapper.make_wrapper(
        "fetch", verified, PILOT_OPTIONS, urls=[base + "/pilot.pyz"], fetch_check="sha256", fetch_rounds=1
    )
    code, out, err = run(write_script(tmp_path, made), one_python_env(tools_dir, tmp_path), str(tmp_path))
    assert code == 255 and "expected %s" % verified.sha256 in out, out + err


@pytest.mark.parametrize("shell", SHELLS)
def test_fetch_unreachable_is_255(verified, tools_dir, tmp_path, shell):
    made = wrapper.make_wrapper(
        "fetch",
        verified,
        PILOT_OPTIONS,
        fetch_rounds=2,
        fetch_pause=0,
        urls=["http://127.0.0.1:1/pilot.pyz", "file:/nonexistent/pilot.pyz"],
    )
    code, out, err = run(write_script(tmp_path, made), one_python_env(tools_dir, tmp_path), str(tmp_path), shell)
    assert code == 255, out + err
    assert "no location gave a pilot" in err
    assert out.count("download failed") == 4


def test_fetch_from_a_file_url(verified, signed_pyz, tools_dir, tmp_path):
    made = wrapper.make_wrapper("fetch", verified, PILOT_OPTIONS, urls=["file://" + signed_pyz], fetch_rounds=1)
    code, out, err = run(write_script(tmp_path, made), one_python_env(tools_dir, tmp_path), str(tmp_path))
    assert code == 0, out + err


def test_fetch_without_curl_or_wget_uses_python(verified, signed_pyz, tools_dir, tmp_path, http_dir):
    root, base = http_dir
    shutil.copy(signed_pyz, str(root / "pilot.pyz"))
    shutil.copy(signed_pyz + ".sig", str(root / "pilot.pyz.sig"))
    bare = tmp_path / "bare-tools"
    bare.mkdir()
    for name in os.listdir(tools_dir):
        if name not in ("curl", "wget"):
            os.symlink(os.path.join(tools_dir, name), str(bare / name))
    made = wrapper.make_wrapper("fetch", verified, PILOT_OPTIONS, urls=[base + "/pilot.pyz"], fetch_rounds=1)
    code, out, err = run(write_script(tmp_path, made), one_python_env(str(bare), tmp_path), str(tmp_path))
    assert code == 0, out + err
    assert "rsaverify: OK" in out


def test_fetch_embeds_the_pilots_own_verifier(verified):
    made = wrapper.make_wrapper("fetch", verified, urls=["https://example.org/pilot.pyz"])
    source = wrapper.rsaverify_source()
    assert source.rstrip("\n") in wrapper.read_stage(made.text)  # in the compressed stage
    repo_copy = open(os.path.join(os.path.dirname(wrapper.__file__), "..", "pilot", "config", "rsaverify.py")).read()
    assert source == repo_copy
