"""A VO's own command, docs/extensions.md's example: ``python pilot.pyz -E MyVOPilot -X CheckWorkerNode,CheckScratch``.

Put this file beside pilot.pyz, in a directory given with --extensions-dir, or
build it into the pyz with ``build/build_pilot.py --with-extension``.
"""

from pilot.extension import Command


class CheckScratch(Command):
    description = "check that $MYVO_SCRATCH exists and show its free space"
    failure_type = "node"

    def execute(self):
        scratch = self.context.environ.get("MYVO_SCRATCH")
        if not scratch:
            self.fail("MYVO_SCRATCH is not set")
        result = self.run(["df", "-m", scratch])
        if not result.ok:
            self.fail(result.describe())
        self.details["scratch"] = scratch
