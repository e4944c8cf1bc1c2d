"""The times a reader may give for a window of pilots (CLI options, API and page parameters)."""

import datetime
import re
import time

RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_when(text, now=None):
    """Epoch seconds from '1763737440', '2026-11-21', '2026-11-21T15:00[:00]' (UTC) or '2h' ago."""
    text = text.strip()
    match = RELATIVE.match(text)
    if match:
        return (time.time() if now is None else now) - float(match.group(1)) * UNITS[match.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            parsed = datetime.datetime.strptime(text.rstrip("Z"), fmt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=datetime.timezone.utc).timestamp()
    raise ValueError("not a time: %r (epoch seconds, 2026-11-21[T15:00[:00]] UTC, or 30m/2h/3d ago)" % text)
