"""An LHCb-style community extension: ``python pilot.pyz -E LHCbPilot ...``

* InstallDIRAC: the release is set up from LHCb's CVMFS area first.  When that
  release is not there (a version newer than the CVMFS publication, or a cold
  cache) the pilot falls back to the normal install ways.
* ConfigureBasics: the grid CAs, VOMS directory and vomses are taken from
  CVMFS (``<area>/etc/grid-security``) instead of being downloaded by
  dirac-configure.

The CVMFS area is /cvmfs/lhcb.cern.ch unless ``-Z lhcbCVMFS=/other/path``.
Classes named like the standard commands replace them (DIRAC's rule: the
first extension that defines a command name wins).  Everything comes from
pilot.extension, the pilot's interface for extensions.
"""

import os

from pilot.extension import ConfigureBasics as CoreConfigureBasics
from pilot.extension import InstallDIRAC as CoreInstallDIRAC
from pilot.extension import Skip, system_dir

DEFAULT_AREA = "/cvmfs/lhcb.cern.ch"
GRID_SECURITY = (("X509_CERT_DIR", "certificates"), ("X509_VOMS_DIR", "vomsdir"), ("X509_VOMSES", "vomses"))


def lhcb_area(params):
    return params.commandOptions.get("lhcbCVMFS", DEFAULT_AREA)


class InstallDIRAC(CoreInstallDIRAC):
    """LHCb: the release from CVMFS, else the normal install."""

    description = "LHCb: set the release up from /cvmfs/lhcb.cern.ch/lhcbdirac, else install it normally"

    def install_methods(self):
        methods = CoreInstallDIRAC.install_methods(self)
        # CVMFS first (the install_lhcbcvmfs way below); the standard ways stay as the fallback.
        methods = ["lhcbcvmfs"] + [method for method in methods if method != "preinstalled"]
        self.details["tried"] = methods
        return methods

    def install_lhcbcvmfs(self):
        version = self.pp.releaseVersion or "pro"
        rc_file = os.path.join(lhcb_area(self.pp), "lhcbdirac", version, system_dir(), "diracosrc")
        if not os.path.isfile(rc_file):
            if "cvmfsOnly" in self.pp.pilotFlags:
                self.fail("LHCbDIRAC %s is not on CVMFS (%s) and -o cvmfsOnly forbids installing it"
                          % (version, rc_file))
            raise Skip("LHCbDIRAC %s is not on CVMFS yet (%s): installing it instead" % (version, rc_file))
        self.pp.preinstalled = True
        return rc_file, self.capture_environment(rc_file)


class ConfigureBasics(CoreConfigureBasics):
    """LHCb: CAs and VOMS information from CVMFS, not downloaded."""

    description = "LHCb: ConfigureBasics with the CAs and VOMS files of /cvmfs/lhcb.cern.ch/etc/grid-security"

    def execute(self):
        self.cvmfs_security = {}
        for variable, name in GRID_SECURITY:
            folder = os.path.join(lhcb_area(self.pp), "etc", "grid-security", name)
            if os.path.isdir(folder) and os.listdir(folder):
                self.cvmfs_security[variable] = folder
        env = self.environment()
        for variable, folder in self.cvmfs_security.items():
            env[variable] = folder
            self.log.info("%s from CVMFS: %s" % (variable, folder))
        if not self.cvmfs_security:
            self.log.warning("no grid-security directories under %s: dirac-configure downloads them"
                             % lhcb_area(self.pp))
        CoreConfigureBasics.execute(self)

    def arguments(self):
        args = CoreConfigureBasics.arguments(self)
        if "X509_CERT_DIR" in self.cvmfs_security and "-D" not in args:
            args[-2:-2] = ["-D", "-M"]  # skip the CA and VOMS downloads; keep "-O pilot.cfg" last
        return args
