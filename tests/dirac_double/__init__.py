# A package, so that its conftest.py imports as dirac_double.conftest and one pytest run can
# take tests/server and tests/dirac_double together (each folder has its own conftest).
