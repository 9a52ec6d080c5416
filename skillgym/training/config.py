"""Run configurations: recipe defaults, then a TOML file, then ``key=value`` overrides.

A configuration is a nested ``dict`` whose shape and value types are fixed by the recipe's
defaults. Every later layer may only set keys the defaults already have, with a value of the
default's type (an ``int`` is accepted where a ``float`` is expected). A table whose default is
empty (``{}``) is free-form: it accepts any keys, e.g. keyword arguments for an environment; so
is an :class:`OpenTable`, which starts with entries (a default weighted sum of reward plugins,
to which a run may add others by name).

Overrides use dotted keys, ``ppo.learning_rate=1e-3``; the value is read as a TOML value
(``true``, ``[64, 64]``, ``3e-4``), except for string keys, whose value is taken verbatim.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # tomli is the parser Python 3.11 adopted as tomllib
    import tomli as tomllib

Config = dict[str, Any]


class ConfigError(ValueError):
    """A configuration key that does not exist, or a value of the wrong type (one line)."""


class OpenTable(dict):
    """A table of a recipe's defaults that accepts any keys, as an empty one does, but starts
    with entries: a layer adds keys or replaces their values, and cannot remove one."""


def _free_form(default: Any) -> bool:
    return isinstance(default, OpenTable) or (isinstance(default, Mapping) and not default)


def flat_keys(table: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every leaf key of ``table`` in dotted form; a free-form table counts as a leaf."""
    keys: list[str] = []
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and not _free_form(value):
            keys.extend(flat_keys(value, f"{dotted}."))
        else:
            keys.append(dotted)
    return keys


def _unknown_key(dotted: str, defaults: Mapping[str, Any]) -> ConfigError:
    known = flat_keys(defaults)
    close = difflib.get_close_matches(dotted, known, n=3, cutoff=0.75)
    if close:
        hint = "did you mean " + " or ".join(f"'{k}'" for k in close) + "?"
    else:
        hint = "known keys: " + ", ".join(known)
    return ConfigError(f"unknown config key '{dotted}'; {hint}")


def _type_name(value: Any) -> str:
    if isinstance(value, list):
        return f"list of {_type_name(value[0])}" if value else "list"
    return {bool: "bool", int: "int", float: "float", str: "string"}.get(type(value), "table")


def _coerce(dotted: str, default: Any, value: Any) -> Any:
    """``value`` checked against (and, int to float, converted to) the type of ``default``."""
    # bool is a subclass of int; neither may stand in for the other.
    if isinstance(default, bool) or isinstance(value, bool):
        if type(value) is type(default):
            return value
    elif isinstance(default, float) and isinstance(value, (int, float)):
        return float(value)
    elif isinstance(default, list) and isinstance(value, list):
        if not default:
            return list(value)
        return [_coerce(f"{dotted}[{i}]", default[0], item) for i, item in enumerate(value)]
    elif type(value) is type(default):
        return value
    raise ConfigError(
        f"config key '{dotted}' expects {_type_name(default)}, got {value!r} "
        f"({_type_name(value)})"
    )


def merge(schema: Mapping[str, Any], base: Mapping[str, Any], layer: Mapping[str, Any]) -> Config:
    """A copy of ``base`` with ``layer``'s values set, each key and type checked against ``schema``.

    ``schema`` is the recipe's defaults; ``base`` is a configuration of the same shape.
    """
    return _merge(schema, base, layer, "", schema)


def _merge(
    schema: Mapping[str, Any],
    base: Mapping[str, Any],
    layer: Mapping[str, Any],
    prefix: str,
    root: Mapping[str, Any],
) -> Config:
    merged = copy.deepcopy(dict(base))
    for key, value in layer.items():
        dotted = f"{prefix}{key}"
        if key not in schema:
            raise _unknown_key(dotted, root)
        default = schema[key]
        if isinstance(default, Mapping) and not isinstance(value, Mapping):
            raise ConfigError(f"config key '{dotted}' is a table, got {value!r}")
        if _free_form(default):
            merged[key] = {**merged[key], **copy.deepcopy(dict(value))}
        elif isinstance(default, Mapping):
            merged[key] = _merge(default, merged[key], value, f"{dotted}.", root)
        else:
            merged[key] = _coerce(dotted, default, value)
    return merged


def parse_override(text: str, defaults: Mapping[str, Any]) -> Config:
    """``"a.b=value"`` as the nested layer ``{"a": {"b": value}}``, typed by ``defaults``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r} is not of the form key=value")
    parts = key.split(".")
    table: Any = defaults
    free_form = False
    for depth, part in enumerate(parts):
        if free_form:
            break
        if not isinstance(table, Mapping) or part not in table:
            raise _unknown_key(key, defaults)
        table = table[part]
        free_form = _free_form(table) and depth < len(parts) - 1
    if isinstance(table, str) and not free_form:
        value: Any = raw
    else:
        try:
            value = tomllib.loads(f"value = {raw.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            # A bare word is the natural spelling of a string, e.g. env.kwargs.mode=fast.
            if not free_form:
                raise ConfigError(
                    f"config key '{key}' expects {_type_name(table)}, got {raw!r}"
                ) from None
            value = raw
    layer: Any = value
    for part in reversed(parts):
        layer = {part: layer}
    return layer


def load_toml(path: str | Path) -> Config:
    """The tables of a TOML file; a missing or malformed file is a :class:`ConfigError`."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file '{path}' is not valid TOML: {error}") from None


def resolve(
    defaults: Mapping[str, Any],
    file: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    base: Mapping[str, Any] | None = None,
) -> Config:
    """The configuration: ``base`` (``defaults`` unless given, a configuration of their shape),
    updated by the tables of a TOML file, then each override; keys and types checked against
    ``defaults``."""
    config = copy.deepcopy(dict(defaults if base is None else base))
    if file is not None:
        config = merge(defaults, config, file)
    for text in overrides:
        config = merge(defaults, config, parse_override(text, defaults))
    return config


def get(config: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted key, e.g. ``get(config, "ppo.learning_rate")``."""
    value: Any = config
    for part in dotted.split("."):
        value = value[part]
    return value


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c.isprintable() else _escape(c) for c in escaped)
    return f'"{escaped}"'


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) to TOML")


def dumps_toml(config: Mapping[str, Any]) -> str:
    """``config`` as TOML text that :func:`tomllib.loads` reads back to an equal dict."""
    return "\n".join(_table_lines(config, ())).lstrip("\n") + "\n"


def _table_lines(table: Mapping[str, Any], path: tuple[str, ...]) -> list[str]:
    lines = ["", "[" + ".".join(_toml_key(key) for key in path) + "]"] if path else []
    # A table's own keys must come before its sub-tables' headers.
    subtables = []
    for key, value in table.items():
        if isinstance(value, Mapping) and value:
            subtables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in subtables:
        lines.extend(_table_lines(value, (*path, key)))
    return lines
