"""Release identity; make_release.py rewrites this file in every copy it makes."""

VERSION = "0.0.0.dev0"
PROJECT = ""
# "source" (this checkout), "tree" (preinstalled/tarball: <root>/lib/fakedirac), "wheel"
BUILD = "source"
