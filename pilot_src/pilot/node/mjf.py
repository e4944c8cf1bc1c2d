"""Machine/Job Features (HEP Software Foundation technical note HSF-TN-2016-02).

``$MACHINEFEATURES`` and ``$JOBFEATURES`` each name a directory, a local
path or an http(s) URL, holding one file per key whose content is the value.
Keys the pilot reads (times are Unix seconds, limits are not normalised):

* job: ``allocated_cpu`` (processors of this job), ``wall_limit_secs``,
  ``cpu_limit_secs`` (summed over the job's processors), ``jobstart_secs``,
  ``shutdowntime_job``, ``max_rss_bytes``, ``hs06_job``, ``db12_job``;
* machine: ``total_cpu``, ``shutdowntime``, ``hs06``, ``db12``.

A URL is read with a short timeout and, after its first network failure,
not asked again during this run (an unreachable server must not cost one
timeout per key).
"""

import os

from ..shims import compat, compat_module
from ..config.fetch import default_ca_dir
from .nodeinfo import read_text

TIMEOUT = 5.0


class Features(object):
    """The MJF of this job; every value read at most once."""

    def __init__(self, environ, timeout=TIMEOUT):
        self.environ = environ
        self.timeout = timeout
        self.values = {}
        self.dead = set()
        self.bases = {"job": environ.get("JOBFEATURES") or "", "machine": environ.get("MACHINEFEATURES") or ""}

    @property
    def present(self):
        return bool(self.bases["job"] or self.bases["machine"])

    def text(self, which, key):
        """The raw value of ``key`` in 'job' or 'machine' features, or None."""
        base = self.bases[which]
        if not base:
            return None
        if (which, key) not in self.values:
            self.values[(which, key)] = self._read(base, key)
        return self.values[(which, key)]

    def _read(self, base, key):
        if "://" not in base:
            return read_text(os.path.join(base, key))
        if base.startswith("file://"):
            return read_text(os.path.join(base[len("file://"):], key))
        if base in self.dead:
            return None
        net = compat_module("net")  # socket, ssl, urllib: only for MJF served over HTTP(S)
        try:
            data = net.request(base.rstrip("/") + "/" + key, timeout=self.timeout,
                               capath=default_ca_dir(self.environ))
        except net.FetchError as exc:
            if "HTTP 404" not in str(exc):
                self.dead.add(base)
            return None
        return compat.to_text(data)

    def number(self, which, key):
        """A whole number >= 0, or None if missing or malformed."""
        text = (self.text(which, key) or "").strip()
        if text.isdigit():
            return int(text)
        try:
            value = float(text)
            return int(value) if value >= 0 else None
        except (ValueError, OverflowError):  # words, nan, inf
            return None

    def describe(self, which, key):
        return "%s/%s" % ("$JOBFEATURES" if which == "job" else "$MACHINEFEATURES", key)
