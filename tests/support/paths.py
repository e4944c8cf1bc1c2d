"""Where the parts of the checkout are."""

import os

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TESTS)
PILOT_SRC = os.path.join(REPO, "pilot_src")
REQUIREMENTS = os.path.join(REPO, "requirements")
