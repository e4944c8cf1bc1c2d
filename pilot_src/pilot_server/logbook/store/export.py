"""A pilot's whole log as one compressed archive: ``pilotctl logbook export``, ``GET .../export``.

The archive is gzip of one JSON document (format ``pilots2/export/1``)::

    {"format", "exported", "pilot": {row}, "states": [...], "commands": [...], "messages": [...]}
"""

import gzip
import io
import json
import time

FORMAT = "pilots2/export/1"


def document(store, stamp):
    """The archive's document for ``stamp``, or None when the logbook has no such pilot."""
    pilot = store.pilot(stamp)
    if pilot is None:
        return None
    return {
        "format": FORMAT,
        "exported": time.time(),
        "pilot": pilot,
        "states": store.states(stamp),
        "commands": store.commands(stamp),
        "messages": store.messages(stamp),
    }


def compress(doc):
    """gzip bytes of the document (mtime 0: the same document gives the same bytes)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as handle:
        handle.write(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    return out.getvalue()


def read(path):
    """An exported archive back as its document (tests, and whoever reads archives)."""
    with gzip.open(path, "rb") as handle:
        return json.loads(handle.read().decode("utf-8"))
