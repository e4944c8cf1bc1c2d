"""Helpers shared by all the tests (tests/node, tests/server, tests/doubles, tests/real_dirac) and bench/.

Importable as ``support`` once tests/ is on sys.path: each conftest puts it there, and bench
scripts insert it themselves.  Every module but ``venvs`` keeps Python 2.6 syntax, since the
worker-node tests use them (the tox env ``static`` checks them).

    support.paths         REPO, PILOT_SRC, TESTS: where the checkout's parts are
    support.ports         free_port(), port_open(), ports_below_ephemeral()
    support.waiting       wait_for(), wait_until(): poll a condition with a deadline
    support.interpreters  the Python interpreters present (.ci/find-pythons.sh)
    support.certificates  self-signed certificates and a test CA, made with the openssl command
    support.tls_front     TLS in front of a plain TCP service (a Python 3 child where 2.6 has no ssl)
    support.venvs         a throwaway virtual environment installed from the hashed locks (Python 3)
"""
