# Test doubles: stand-ins that honour the contract of a real system the pilot or the server
# talks to (docs/testing.md, "Layout of tests/").  A package, so that tests/doubles/dirac/conftest.py
# imports as doubles.dirac.conftest in the one host-side pytest run; Python 2.6 syntax, since the
# worker-node tests import doubles.log_receivers.
