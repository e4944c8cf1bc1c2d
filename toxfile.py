"""tox plugin of this project (tox 4 loads toxfile.py from the folder of tox.ini).

The py26 env runs the worker-node tests under a real CPython 2.6, but virtualenv
cannot make a 2.6 environment and tox refuses an env named py26 whose Python is
another one.  The ``python26-driver`` runner below is tox's own virtualenv runner
without that check: the env is a Python 3 environment (base_python) whose commands
drive the 2.6 interpreter (.ci/pytest26.sh).
"""

from tox.plugin import impl
from tox.tox_env.python.virtual_env.runner import VirtualEnvRunner


class Python26Driver(VirtualEnvRunner):
    @staticmethod
    def id():
        return "python26-driver"

    @classmethod
    def extract_base_python(cls, env_name):
        return None  # the env's name says which Python the tests run under, not this env's


@impl
def tox_register_tox_env(register):
    register.add_run_env(Python26Driver)
