"""Test double of DIRAC's generated pilot wrapper (DIRAC Utilities/PilotWrapper.py, v9).

It honours the contract of DIRAC's generated pilot wrapper, and nothing more:

    python dirac_wrapper.py LOCATION [LOCATION ...] -- <pilot options>

1. a work directory mkdtemp(prefix="DIRAC_", suffix="pilot") in the current directory;
2. candidates: each location, then each <location>/pilot; "https://" is prefixed unless the
   entry starts with file: or https:;
3. per candidate: checksums.sha512, pilot.json, pilot.tar, in that order, 10 s timeout,
   TLS verification off; the first candidate that gives all three wins; none -> exit 255;
4. every file listed in checksums.sha512 that exists is SHA-512-checked; mismatch -> exit 255;
5. pilot.tar extracted (failure -> exit 3);
6. runs "<python> dirac-pilot.py <options> --pilotUUID <$DIRAC_PILOT_STAMP or uuid1()>" with the
   buffered log on stdin, removes the work directory, exits 1 if the pilot failed, else 0.

Runs on Python 2.7 and 3.x (DIRAC's body is Python run by the bash wrapper).
"""

import hashlib
import os
import shutil
import ssl
import subprocess
import sys
import tarfile
import tempfile
import uuid

try:
    from urllib.request import urlopen
except ImportError:  # Python 2
    from urllib2 import urlopen

LOG = []


def log(level, message):
    import datetime

    line = "%s %-8s [PilotWrapper] %s" % (datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S,%fZ"), level, message)
    LOG.append(line)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def fetch(url):
    if url.startswith("https:"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # DIRAC's wrapper does not verify
        return urlopen(url, timeout=10, context=context).read()
    return urlopen(url, timeout=10).read()


def candidates(locations):
    found = []
    for location in locations:
        if not (location.startswith("file:") or location.startswith("https:")):
            location = "https://" + location
        found.append(location)
        found.append(location.rstrip("/") + "/pilot")
    return found


def main(argv):
    if "--" not in argv:
        sys.stderr.write("usage: dirac_wrapper.py LOCATION [LOCATION ...] -- <pilot options>\n")
        return 2
    split = argv.index("--")
    locations, options = argv[:split], argv[split + 1 :]
    work = tempfile.mkdtemp(prefix="DIRAC_", suffix="pilot", dir=os.getcwd())
    os.chdir(work)
    got = None
    for candidate in candidates(locations):
        files = {}
        try:
            for name in ("checksums.sha512", "pilot.json", "pilot.tar"):
                files[name] = fetch(candidate.rstrip("/") + "/" + name)
        except Exception as exc:  # what DIRAC does: any failure moves to the next location
            log("WARNING", "%s: %s" % (candidate, exc))
            continue
        got = candidate
        break
    if got is None:
        log("ERROR", "no location worked")
        return 255
    log("INFO", "pilot files from %s" % got)
    for name, data in files.items():
        with open(name, "wb") as handle:
            handle.write(data)
    for line in files["checksums.sha512"].decode("ascii").splitlines():
        if not line.strip():
            continue
        expected, name = line.split(None, 1)
        name = name.strip()
        if not os.path.exists(name):
            continue
        with open(name, "rb") as handle:
            actual = hashlib.sha512(handle.read()).hexdigest()
        if actual != expected:
            log("ERROR", "checksum mismatch for %s" % name)
            return 255
        log("INFO", "checksum ok for %s" % name)
    try:
        archive = tarfile.open("pilot.tar", "r")
        try:
            archive.extractall()
        finally:
            archive.close()
    except Exception as exc:
        log("ERROR", "cannot extract pilot.tar: %s" % exc)
        return 3
    stamp = os.environ.get("DIRAC_PILOT_STAMP") or str(uuid.uuid1())
    cmd = [sys.executable, "dirac-pilot.py"] + options + ["--pilotUUID", stamp]
    log("INFO", "executing %s" % " ".join(cmd))
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    proc.communicate(("\n".join(LOG) + "\n").encode("utf-8"))
    os.chdir("..")
    shutil.rmtree(work)
    if proc.returncode:
        log("ERROR", "pilot failed with exit code %d" % proc.returncode)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
