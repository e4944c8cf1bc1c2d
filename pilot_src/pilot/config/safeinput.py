"""Reading input the pilot is given (pilot.json, the versions file) without hanging or recursing.

* ``read_regular(path, max_bytes)``: a FIFO, a device (/dev/zero) or a directory
  is refused before it is opened (a FIFO blocks the reader, /dev/zero never ends);
  a file over ``max_bytes`` is refused.
* ``loads(data)``: JSON nested deeper than ``MAX_DEPTH`` is refused before it is
  parsed: Python's parser recurses once per level (RecursionError, a traceback).

Both raise ``InputError`` whose str() is one line without the file's name.
"""

import json
import os
import re
import stat

from ..shims import compat

MAX_DEPTH = 64   # a real pilot.json nests about 8 levels deep


class InputError(Exception):
    pass


def file_type(mode):
    for test, what in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a file"


def read_regular(path, max_bytes):
    """The bytes of the regular file ``path`` (at most ``max_bytes``); InputError otherwise."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise InputError("not a regular file (%s)" % file_type(info.st_mode))
        if info.st_size > max_bytes:
            raise InputError("%d bytes, over the limit of %d" % (info.st_size, max_bytes))
        handle = open(path, "rb")
        try:
            data = handle.read(max_bytes + 1)
        finally:
            handle.close()
    except (IOError, OSError) as exc:
        raise InputError("cannot read it: %s" % (exc.strerror or exc))
    if len(data) > max_bytes:
        raise InputError("over the limit of %d bytes" % max_bytes)
    return data


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKETS = re.compile(r"[^\[\]\{\}]+")


def nesting_depth(text):
    """How deep arrays and objects nest in JSON text (strings skipped); no recursion."""
    depth = deepest = 0
    for char in _BRACKETS.sub("", _STRING.sub("", text)):
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def loads(data, max_depth=MAX_DEPTH):
    """The JSON document in ``data`` (bytes or text); InputError when it is not JSON or too deep."""
    text = compat.to_text(data)
    depth = nesting_depth(text)
    if depth > max_depth:
        raise InputError("nested %d levels deep, over the limit of %d" % (depth, max_depth))
    try:
        return json.loads(text)
    except (ValueError, RuntimeError, MemoryError) as exc:
        raise InputError("not valid JSON: %s" % exc)
