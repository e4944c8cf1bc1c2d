"""A GridPP-style community extension: ``python pilot.pyz -E GridPPPilot -X ...,GitInstallDIRAC,...``

GitInstallDIRAC installs the release from a git repository and branch into a
new virtual environment, for sites that run unreleased code::

    -Z gitRepo=https://github.com/myvo/DIRAC.git,gitBranch=devel[,gitProject=DIRAC]

It reuses the standard InstallDIRAC (virtual environment, pip, environment
capture) through its hooks (pilot.extension) and only changes what is installed.
"""

from pilot.extension import InstallDIRAC


class GitInstallDIRAC(InstallDIRAC):
    """Install the DIRAC release from a git repository and branch (-Z gitRepo=...,gitBranch=...)."""

    description = "install the release from a git repository and branch (-Z gitRepo=URL,gitBranch=NAME)"

    def install_methods(self):
        if not self.pp.commandOptions.get("gitRepo"):
            self.fail("GitInstallDIRAC needs -Z gitRepo=<URL>[,gitBranch=<branch>]", "config")
        self.details["tried"] = ["venv"]
        return ["venv"]

    def pip_requirements(self):
        options = self.pp.commandOptions
        repository = options["gitRepo"]
        branch = options.get("gitBranch", "master")
        project = options.get("gitProject", "%sDIRAC" % self.pp.releaseProject)
        self.log.info("installing %s from %s, branch %s" % (project, repository, branch))
        self.details["git"] = {"repository": repository, "branch": branch, "project": project}
        url = repository if repository.startswith("git+") else "git+" + repository
        return ["%s[pilot] @ %s@%s" % (project, url, branch)]
