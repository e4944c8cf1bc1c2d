"""The ``compat`` package (what differs between Python 2.6, 2.7 and 3.x), wherever the layout puts it.

In pilot.pyz and in the checkout, compat is a top-level package beside ``pilot``
(VO extensions may import it by that name); in the installed distribution it is
``pilot_server.worker.compat``, inside the worker package, so that nothing but
``pilot_server`` is installed at the top.  The pilot's modules import it from here,
the one place that knows both layouts.
"""

from __future__ import absolute_import  # Python 2: "import compat" is never a module of this folder

if __name__.count(".") == 1:  # pilot.shims: the pilot package is top-level (pilot.pyz, the checkout)
    import compat
else:  # pilot_server.worker.shims: installed
    from . import compat


def compat_module(name):
    """compat.<name>, imported (compat.net loads socket and threading: only the modules that use it ask)."""
    __import__("%s.%s" % (compat.__name__, name))
    return getattr(compat, name)
