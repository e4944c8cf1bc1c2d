"""Helpers shared by the host-side tests (tests/server, tests/doubles/dirac) and bench/.

Python 3 only (the worker-node tests in tests/node keep their own 2.6-compatible helpers).
Importable as ``support`` once tests/ is on sys.path: tests/server/conftest.py puts it there,
pytest does for the tests/doubles/dirac package, and bench scripts insert it themselves.

    support.paths         REPO, PILOT_SRC, TESTS: where the checkout's parts are
    support.ports         free_port(): a local port nobody listens on
    support.waiting       wait_until(): poll a condition with a deadline
    support.interpreters  the Python interpreters present (.ci/find-pythons.sh)
    support.certificates  a self-signed host certificate made with openssl
    support.venvs         a throwaway virtual environment installed from the hashed locks
"""
