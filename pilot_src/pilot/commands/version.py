"""GetPilotVersion: which DIRAC version(s) this pilot installs."""

import os

from ..shims import compat
from ..config import fetch, options, safeinput
from .base import Command
from ..config.fetch import is_url


class GetPilotVersion(Command):
    """Decide the DIRAC version(s) to install: -r, else pilot.json, else --versions-file."""

    description = "decide the DIRAC version(s) to install: -r, pilot.json, else --versions-file"
    failure_type = "config"

    def execute(self):
        if self.pp.releaseVersions:
            source, origin = self.pp.sources["releaseVersions"]
            self.log.info("DIRAC version %s (from %s%s)" % (
                self.pp.releaseVersion, source, " " + origin if origin else ""))
            self._record(source)
            return
        location = self.pp.versionsFile
        if not location:
            self.fail("no DIRAC version given: use -r VERSION, a Version in pilot.json, or --versions-file")
        document, name = self._read(location)
        setup = self.pp.setup or "Defaults"
        section = document.get(setup)
        if not isinstance(section, dict) and setup != "Defaults":
            section = document.get("Defaults")
        if not isinstance(section, dict) or "Version" not in section:
            self.fail("%s: no Version for setup %s" % (name, setup))
        raw = section["Version"]
        if not isinstance(raw, (list,) + compat.string_types):
            self.fail("%s: the Version of setup %s is not a list or a string" % (name, setup))
        versions = options.split_list(raw)
        if not versions:
            self.fail("%s: the Version of setup %s is empty" % (name, setup))
        self.pp.set("releaseVersions", versions, "GetPilotVersion", name)
        self.log.info("DIRAC version %s from %s (all accepted: %s)"
                      % (versions[0], name, ", ".join(versions)))
        self._record("GetPilotVersion")

    def _record(self, source):
        self.details["versions"] = list(self.pp.releaseVersions)
        self.details["installed"] = self.pp.releaseVersion
        self.details["source"] = source

    def _read(self, location):
        if is_url(location):
            url, data = self.context.downloader.get(options.split_list(location), what="versions file",
                                                    kind="versions")
            name = url
        else:
            name = os.path.join(self.work_dir, location)
            try:
                data = safeinput.read_regular(name, fetch.LIMITS["versions"][1])
            except safeinput.InputError as exc:
                self.fail("versions file %s: %s" % (name, exc))
        try:
            document = safeinput.loads(data)
        except safeinput.InputError as exc:
            self.fail("versions file %s: %s" % (name, exc))
        if not isinstance(document, dict):
            self.fail("versions file %s: the top level is not an object" % name)
        return document, name
