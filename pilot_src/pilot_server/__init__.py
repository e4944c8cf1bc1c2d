"""Pilots 2.0: the server side (Python 3.9+).

Builds, signs and wraps ``pilot.pyz`` and runs the pilot logbook.  This file
stays import-light on purpose: the pyz builder (``pilot_server.pyzbuild``) must
import with the standard library alone, on any Python 3.6+, from a bare checkout.
"""
