"""What pilot.pyz loads to start: the modules of each information action, the bytecode cache.

Start-up time itself is measured by bench/bench_vs_dirac.py and bench/bench_pyz.py,
never asserted here; what is pinned is what makes it: which modules are imported.
"""

import hashlib
import os
import stat
import time
import sys

import helpers

# The pilot's own modules `--version` among other options may load, no more (pilot.config.options parses
# the command line; pilot.config is its package, a docstring; pilot.shims finds compat); a lone `--version`
# is answered by __main__.py from the pilot package alone.
VERSION_MODULES = ["compat", "pilot", "pilot.cli", "pilot.config", "pilot.config.options", "pilot.errors",
                   "pilot.exitcodes", "pilot.shims", "pyzimport"]
OURS = ("pilot", "compat", "pyzimport", "pilotTools", "pilotCommands", "six")

# Runs the pyz the way `python pilot.pyz ARGS` does (2.6 ... 3.13), then reports, at exit, the
# modules loaded: ours, and the standard library ones this test watches.
HARNESS = """
import atexit, sys
WATCHED = ("subprocess", "threading", "ssl", "socket", "json", "zipfile", "random", "uuid",
           "tarfile", "urllib2", "urllib.request")
BEFORE = set(sys.modules)
def report():
    loaded = [name for name in sys.modules if sys.modules[name] is not None]
    sys.stderr.write("OURS %s\\n" % " ".join(sorted(n for n in loaded if n.split(".")[0] in @OURS@)))
    sys.stderr.write("STDLIB %s\\n" % " ".join(sorted(n for n in WATCHED if n in loaded and n not in BEFORE)))
atexit.register(report)
import runpy
sys.argv = [@PYZ@] + @ARGS@
sys.path.insert(0, sys.argv[0])
runpy._run_module_as_main("__main__", False)  # as python ZIP does
"""


def loaded(pyz, args, cwd, env=None):
    code = HARNESS.replace("@OURS@", repr(OURS)).replace("@PYZ@", repr(pyz)).replace("@ARGS@", repr(args))
    rc, out, err = helpers.run([sys.executable, "-c", code], cwd, env=env)
    found = dict(line.split(" ", 1) for line in (l + " " for l in err.splitlines()) if line[:4] in ("OURS", "STDL"))
    assert "OURS" in found, (rc, out, err)
    return rc, out, found["OURS"].split(), found["STDLIB"].split()


def test_lone_version_loads_the_pilot_package_only(pyz, workdir):
    rc, out, ours, stdlib = loaded(pyz, ["--version"], workdir)
    assert rc == 0 and out.startswith("Pilots 2.0 pilot ")
    assert ours == ["pilot"]
    assert stdlib == []


def test_version_among_options_loads_nine_modules_of_ours(pyz, workdir):
    rc, out, ours, stdlib = loaded(pyz, ["-d", "--version"], workdir)
    assert rc == 0 and out.startswith("Pilots 2.0 pilot ")
    assert ours == VERSION_MODULES
    assert stdlib == []  # no subprocess, threading, ssl, socket, json ...
    assert loaded(pyz, ["--version"], workdir)[1] == out  # the same line either way


def test_help_loads_no_command(pyz, workdir):
    rc, out, ours, stdlib = loaded(pyz, ["--help"], workdir)
    assert rc == 0 and "usage: python pilot.pyz" in out
    assert [name for name in ours if name.startswith("pilot.commands")] == []
    assert "subprocess" not in stdlib and "threading" not in stdlib


def test_explain_loads_only_the_planned_commands(pyz, workdir):
    rc, out, ours, stdlib = loaded(pyz, ["--explain", "-X", "CheckWorkerNode"], workdir)
    assert rc == 0, out
    assert "uuid" not in stdlib  # Python 2's uuid runs ldconfig -p when imported
    assert "pilot.commands.checknode" in ours
    for name in ("pilot.commands.install", "pilot.commands.agent", "pilot.commands.configure",
                 "pilot.logs.remotelog", "pilot.logs.logsession", "pilot.logs.logsender",
                 "pilot.logs.logspool", "pilot.logs.stdincapture", "pilot.logs.stomp", "pilot.logs.logtransport",
                 "pilot.cpu", "pilot.cpu.db12", "pilot.sequence.heartbeat", "pilot.sequence.runner",
                 "pilot.sequence.proc", "six", "pilot.config.credentials", "pilot.config.rsaverify"):
        assert name not in ours, name


def test_explain_of_every_command_runs_none_of_their_checks(pyz, workdir):
    """Planning the whole default sequence loads the commands, not what they use when they run."""
    rc, out, ours, stdlib = loaded(pyz, ["--explain"], workdir)
    assert rc == 0 and "LaunchAgent" in out, out
    assert "pilot.commands.capability" in ours and "pilot.commands.checknode" in ours
    for name in ("pilot.node.capabilities", "pilot.config.credentials", "pilot.config.rsaverify", "compat.net"):
        assert name not in ours, name
    # urllib (and http.client, email, ssl behind it) only when something is downloaded in Python
    for name in ("urllib.request", "urllib2", "tarfile", "zipfile"):
        assert name not in stdlib, name


def test_bytecode_cache_is_used_only_when_private(pyz, tmpdir):
    work = str(tmpdir.mkdir("work"))
    cache = str(tmpdir.join("pyc"))
    env = helpers.clean_env({"PILOT_PYC_CACHE": cache})
    rc, out, err = helpers.run_pilot(["-d", "--version"], work, env=env, pyz=pyz)
    assert rc == 0, err
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    (digest,) = os.listdir(cache)
    assert digest == hashlib.sha256(helpers.read_bytes(pyz)).hexdigest()  # keyed by the pyz: another pilot never reads these
    (tag,) = os.listdir(os.path.join(cache, digest))
    entries = sorted(os.listdir(os.path.join(cache, digest, tag)))
    assert entries == sorted(name for name in VERSION_MODULES if name not in ("pyzimport", "pilot"))
    rc, again, _ = helpers.run_pilot(["-d", "--version"], work, env=env, pyz=pyz)
    assert rc == 0 and again == out

    # A cache others may write to is not used (and nothing is written into it).
    shared = str(tmpdir.mkdir("shared"))
    os.chmod(shared, 0o777)
    rc, _, err = helpers.run_pilot(["-d", "--version"], work, env=helpers.clean_env({"PILOT_PYC_CACHE": shared}),
                                   pyz=pyz)
    assert rc == 0, err
    assert os.listdir(shared) == []
    # A relative path is refused the same way.
    rc, _, _ = helpers.run_pilot(["-d", "--version"], work, env=helpers.clean_env({"PILOT_PYC_CACHE": "pyc"}), pyz=pyz)
    assert rc == 0 and not os.path.exists(os.path.join(work, "pyc"))


def test_a_damaged_cache_entry_is_compiled_again(pyz, tmpdir):
    work = str(tmpdir.mkdir("work"))
    cache = str(tmpdir.join("pyc"))
    env = helpers.clean_env({"PILOT_PYC_CACHE": cache})
    assert helpers.run_pilot(["-d", "--version"], work, env=env, pyz=pyz)[0] == 0
    digest = os.listdir(cache)[0]
    folder = os.path.join(cache, digest, os.listdir(os.path.join(cache, digest))[0])
    helpers.write_bytes(os.path.join(folder, "pilot.cli"), b"not marshal data")
    rc, out, err = helpers.run_pilot(["-d", "--version"], work, env=env, pyz=pyz)
    assert rc == 0 and out.startswith("Pilots 2.0 pilot "), err


def _interpreter_tag():
    return "%s-%x%s" % (getattr(getattr(sys, "implementation", None), "name", "cpython"), sys.hexversion,
                         getattr(sys, "abiflags", ""))


def test_cache_is_on_by_default_in_var_tmp_and_off_on_request(pyz, tmpdir):
    """Without $PILOT_PYC_CACHE the cache is /var/tmp/pilots2-pyc-<uid>; "off" and -B keep it shut."""
    work = str(tmpdir.mkdir("work"))
    digest = hashlib.sha256(helpers.read_bytes(pyz)).hexdigest()
    folder = os.path.join("/var/tmp/pilots2-pyc-%d" % os.getuid(), digest, _interpreter_tag())
    if os.path.isdir(folder):  # left by an earlier run of this interpreter's tests
        import shutil

        shutil.rmtree(folder)
    for shut in ({"PILOT_PYC_CACHE": "off", "PYTHONDONTWRITEBYTECODE": None},
                 {"PILOT_PYC_CACHE": "OFF", "PYTHONDONTWRITEBYTECODE": None},
                 {"PILOT_PYC_CACHE": None, "PYTHONDONTWRITEBYTECODE": "1"}):
        rc, _, err = helpers.run_pilot(["-d", "--version"], work, env=helpers.clean_env(shut), pyz=pyz)
        assert rc == 0, err
        assert not os.path.exists(folder), shut
    default = helpers.clean_env({"PILOT_PYC_CACHE": None, "PYTHONDONTWRITEBYTECODE": None})
    rc, _, err = helpers.run_pilot(["-d", "--version"], work, env=default, pyz=pyz)
    assert rc == 0, err
    assert "pilot.cli" in os.listdir(folder)
    assert stat.S_IMODE(os.stat(os.path.dirname(os.path.dirname(folder))).st_mode) == 0o700


def test_cache_keeps_the_newest_pyz_folders_only(pyz, tmpdir):
    work = str(tmpdir.mkdir("work"))
    cache = str(tmpdir.mkdir("pyc"))
    os.chmod(cache, 0o700)
    day = 24 * 3600
    now = time.time()
    names = []
    for index in range(10):  # other pyz files' folders: 0 ... 9 days unused
        name = ("%x" % index) * 64
        os.mkdir(os.path.join(cache, name), 0o700)
        os.utime(os.path.join(cache, name), (now - index * day - 60, now - index * day - 60))
        names.append(name)
    os.mkdir(os.path.join(cache, "not-a-pyz-folder"))
    helpers.write_text(os.path.join(cache, "b" * 64 + ".txt"), "x")
    rc, _, err = helpers.run_pilot(["-d", "--version"], work, env=helpers.clean_env({"PILOT_PYC_CACHE": cache}),
                                   pyz=pyz)
    assert rc == 0, err
    digest = hashlib.sha256(helpers.read_bytes(pyz)).hexdigest()
    left = sorted(os.listdir(cache))
    # this pyz, the 7 newest others (0 ... 6 days unused), and what is not a pyz folder
    assert left == sorted([digest] + names[:7] + ["not-a-pyz-folder", "b" * 64 + ".txt"])


def test_the_debug_log_says_where_compiled_modules_are_kept(pyz, tmpdir):
    work = str(tmpdir.mkdir("work"))
    cache = str(tmpdir.join("pyc"))
    digest = hashlib.sha256(helpers.read_bytes(pyz)).hexdigest()
    rc, out, err = helpers.run_pilot(["-d", "-X", "CheckWorkerNode"], work,
                                     env=helpers.clean_env({"PILOT_PYC_CACHE": cache}), pyz=pyz)
    assert "bytecode cache: %s" % os.path.join(cache, digest, _interpreter_tag()) in out + err
    rc, out, err = helpers.run_pilot(["-d", "-X", "CheckWorkerNode"], work,
                                     env=helpers.clean_env({"PILOT_PYC_CACHE": "off"}), pyz=pyz)
    assert "bytecode cache: off" in out + err
