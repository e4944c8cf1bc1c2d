"""A GridPP-style community extension: ``python pilot.pyz -E GridPPPilot -X ...,GitInstallDIRAC,...``

GitInstallDIRAC installs the release from a git repository and branch into a
new virtual environment, for sites that run unreleased code::

    -Z gitRepo=https://github.com/myvo/DIRAC.git,gitBranch=devel[,gitProject=DIRAC]

It reuses the standard InstallDIRAC (virtual environment, pip, environment
capture) and only changes what is installed.
"""

from pilotCommands import InstallDIRAC


class GitInstallDIRAC(InstallDIRAC):
    """Install the DIRAC release from a git repository and branch (-Z gitRepo=...,gitBranch=...)."""

    description = "install the release from a git repository and branch (-Z gitRepo=URL,gitBranch=NAME)"

    def _methods(self):
        options = self.pp.commandOptions
        if not options.get("gitRepo"):
            self.fail("GitInstallDIRAC needs -Z gitRepo=<URL>[,gitBranch=<branch>]", "config")
        self.details["tried"] = ["venv"]
        return ["venv"]

    def _pip_install(self, env):
        options = self.pp.commandOptions
        repository = options["gitRepo"]
        branch = options.get("gitBranch", "master")
        project = options.get("gitProject", "%sDIRAC" % self.pp.releaseProject)
        self.log.info("installing %s from %s, branch %s" % (project, repository, branch))
        # The core installer turns url:::Project:::branch into "Project[pilot] @ git+url@branch".
        saved = self.pp.modules
        self.pp.modules = ["%s:::%s:::%s" % (repository, project, branch)]
        try:
            InstallDIRAC._pip_install(self, env)
        finally:
            self.pp.modules = saved
        self.details["git"] = {"repository": repository, "branch": branch, "project": project}
