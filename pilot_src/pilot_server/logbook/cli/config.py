"""``--config FILE``: the options of a command from a TOML file; what the command line gives wins.

A key is a long option without its ``--`` (the spelling of ``--help``), its value a
TOML string, number or boolean (``insecure-http = true``); a repeatable option takes
a list, or one value::

    listen = "0.0.0.0:8443"
    tls-cert = "/etc/grid-security/hostcert.pem"
    tls-key = "/etc/grid-security/hostkey.pem"
    token-secret = ["/etc/pilots2/token.secret", "/etc/pilots2/token.secret.old"]
    idle-timeout = 90

An unknown key, a value of the wrong kind or one the option refuses is a one-line
error (``ConfigError``).  An option given on the command line replaces the file's
(a repeatable one too: its values are not added to the file's).
"""

import argparse
import sys

GIVEN = "_given_on_command_line"


class ConfigError(Exception):
    """A configuration file that cannot be used; str() is one line."""


def track_given(parser):
    """Make every option of ``parser`` note on the namespace that the command line gave it."""
    for action in parser._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            action.__class__ = _given_class(type(action))
    return parser


_classes = {}


def _given_class(base):
    if base not in _classes:

        def __call__(self, parser, namespace, values, option_string=None):
            given = getattr(namespace, GIVEN, None)
            if given is None:
                given = set()
                setattr(namespace, GIVEN, given)
            given.add(self.dest)
            base.__call__(self, parser, namespace, values, option_string)

        _classes[base] = type("Given" + base.__name__, (base,), {"__call__": __call__})
    return _classes[base]


def load_toml(path):
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError("config %s: %s" % (path, exc.strerror or exc))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("config %s: not TOML: %s" % (path, " ".join(str(exc).split())))


def apply(parser, args, path, config_key="config"):
    """Set on ``args`` every option of the file at ``path`` that the command line did not give."""
    document = load_toml(path)
    options = {}
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--"):
                options[option[2:]] = action
    given = getattr(args, GIVEN, set())
    for key in sorted(document):
        action = options.get(key)
        if action is None or key == config_key or isinstance(action, argparse._HelpAction):
            raise ConfigError(
                "config %s: unknown key %r (the keys are serve's long options, e.g. listen, "
                "tls-cert, token-secret)" % (path, key[:60])
            )
        value = _convert(path, key, action, document[key])
        if action.dest not in given:
            setattr(args, action.dest, value)
    return args


def _convert(path, key, action, value):
    where = "config %s: %s" % (path, key)
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise ConfigError("%s: want true or false, not %r" % (where, value))
        return action.const if value else action.default
    if isinstance(action, argparse._AppendAction):
        values = value if isinstance(value, list) else [value]
        return [_scalar(where, action, item) for item in values]
    return _scalar(where, action, value)


def _scalar(where, action, value):
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError("%s: want a string or a number, not %s" % (where, type(value).__name__))
    text = str(value)
    try:
        converted = action.type(text) if action.type is not None else text
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        raise ConfigError("%s: %s" % (where, " ".join(str(exc).split()) or "bad value %r" % text))
    if action.choices is not None and converted not in action.choices:
        raise ConfigError("%s: %r is not one of %s" % (where, converted, ", ".join(map(str, action.choices))))
    return converted
