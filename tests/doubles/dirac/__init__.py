# A package, so that its conftest.py imports as doubles.dirac.conftest and one pytest run can
# take tests/server and tests/doubles/dirac together (each folder has its own conftest).
