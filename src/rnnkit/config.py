"""Options: the configuration dataclasses, their help, bounds and types, in one place.

Every option of ``rnnkit train <task>`` is a field of a configuration dataclass declared with
:func:`option`, which keeps its default, help text, flag name, bounds and choices in the field's
metadata. From those fields the CLI builds its flags and help, and :func:`resolve` turns a mapping
of option values (flags, a ``--config`` TOML file, or the Python API's dict) into checked
dataclass instances. A value of the wrong type or out of bounds is one :class:`InputError` naming
the option.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rnnkit.errors import InputError


def option(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    choices: tuple | None = None,
    min: float | None = None,
    above: float | None = None,
    below: float | None = None,
    none: str | None = None,
    duration: bool = False,
    path: bool = False,
    checksum: bool = True,
) -> Any:
    """A dataclass field that is a user option.

    ``min`` is an inclusive lower bound, ``above``/``below`` exclusive ones; ``none`` says what
    ``None`` means (shown in help as the default); ``duration`` accepts '90s', '10m', '1h'.
    ``path`` marks a file the user names (stored as an absolute path unless it names a
    dataset); its sha256 is stored with the run unless ``checksum`` is False (a file read once).
    """
    metadata = {
        "help": help,
        "flag": flag,
        "choices": choices,
        "min": min,
        "above": above,
        "below": below,
        "none": none,
        "duration": duration,
        "path": path,
        "checksum": checksum,
    }
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def flag_name(field: dataclasses.Field) -> str:
    """The option's name as a flag and TOML key, without dashes: ``hidden``, ``clip-norm``."""
    return field.metadata.get("flag") or field.name.replace("_", "-")


def options_of(cls) -> list[dataclasses.Field]:
    """The fields of ``cls`` that are user options (declared with :func:`option`)."""
    return [f for f in dataclasses.fields(cls) if "help" in f.metadata]


def field_type(cls, field: dataclasses.Field) -> tuple[type, bool]:
    """(base type, whether None is allowed) of a field."""
    hint = typing.get_type_hints(cls)[field.name]
    optional = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    if optional:
        base = next(a for a in typing.get_args(hint) if a is not type(None))
        return base, True
    return hint, False


def parse_duration(text: str) -> float:
    """'90', '90s', '10m', '1.5h' -> seconds."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", str(text))
    if not match:
        raise ValueError(f"expected a duration like 90s, 10m or 1h, got {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def describe_default(field: dataclasses.Field, value: Any) -> str:
    """How help shows a default: ``None`` as what it means."""
    if value is None:
        return field.metadata.get("none") or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def from_text(cls, field: dataclasses.Field, text: str) -> Any:
    """A command-line string as the field's type; ValueError when it is not one."""
    base, optional = field_type(cls, field)
    if optional and text.strip().lower() in ("none", "off"):
        return None
    if field.metadata.get("duration"):
        return parse_duration(text)
    if base is bool:
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if base is int:
        return int(text)
    if base is float:
        return float(text)
    if typing.get_origin(base) is list:
        (element,) = typing.get_args(base)
        return [element(part) for part in text.split(",")]
    return text


def typed(cls, field: dataclasses.Field, value: Any, where: str) -> Any:
    """A value from TOML or Python checked against the field's type (no silent conversions:
    ``true`` is not a number and ``"false"`` is not a boolean)."""
    base, optional = field_type(cls, field)
    name = flag_name(field)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "off")):
        if optional:
            return None
        raise InputError(f"{where}option {name!r}: must not be none")
    if field.metadata.get("duration") and isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as error:
            raise InputError(f"{where}option {name!r}: {error}") from None
    if base is bool:
        ok = isinstance(value, bool)
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif typing.get_origin(base) is list:
        (element,) = typing.get_args(base)
        kinds = (int, float) if element is float else (element,)  # 1 is a number too
        ok = isinstance(value, list) and all(
            isinstance(v, kinds) and not isinstance(v, bool) for v in value
        )
        value = [element(v) for v in value] if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        expected = getattr(base, "__name__", str(base)).replace("str", "string")
        expected = {"bool": "true or false", "int": "a whole number", "float": "a number"}.get(
            expected, expected
        )
        if typing.get_origin(base) is list:
            element = typing.get_args(base)[0]
            expected = "a list of " + ("numbers" if element is float else "whole numbers")
        raise InputError(
            f"{where}option {name!r}: expected {expected}, got {value!r} ({type(value).__name__})"
        )
    return value


def check_bounds(field: dataclasses.Field, value: Any) -> None:
    """Raise InputError when ``value`` breaks the field's choices or bounds."""
    if value is None or isinstance(value, (bool, list)):
        return
    meta, flag = field.metadata, "--" + flag_name(field)
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise InputError(f"{flag} must be one of {', '.join(map(str, choices))}, got {value!r}")
    if not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{flag} must be a finite number, got {value}")
    low, above, below = meta.get("min"), meta.get("above"), meta.get("below")
    if low is not None and value < low:
        bound = "positive" if low == 1 and isinstance(value, int) else f">= {low}"
        raise InputError(f"{flag} must be {bound}, got {value}")
    if above is not None and value <= above:
        bound = "positive" if above == 0 else f"> {above}"
        raise InputError(f"{flag} must be {bound}, got {value}")
    if below is not None and value >= below:
        low_text = f"[{low}, {below})" if low is not None else f"< {below}"
        raise InputError(f"{flag} must be in {low_text}, got {value}")


def key_table(classes: Mapping[str, type]) -> dict[str, tuple[str, dataclasses.Field]]:
    """Every spelling of every option -> (section, field): flag names and field names, with
    dashes or underscores."""
    table = {}
    for section, cls in classes.items():
        for field in options_of(cls):
            for name in (flag_name(field), field.name):
                table[name.replace("_", "-")] = (section, field)
    return table


def normalise(
    classes: Mapping[str, type], values: Mapping[str, Any], where: str = ""
) -> dict[str, dict[str, Any]]:
    """``{"hidden": 64, "max-steps": 10}`` -> ``{"model": {"hidden_size": 64}, "train": {...}}``,
    every value type-checked. ``where`` prefixes messages (e.g. a TOML file's name)."""
    table = key_table(classes)
    sections: dict[str, dict[str, Any]] = {name: {} for name in classes}
    for key, value in values.items():
        found = table.get(str(key).replace("_", "-"))
        if found is None:
            raise InputError(f"{where}unknown option {key!r}")
        section, field = found
        sections[section][field.name] = typed(classes[section], field, value, where)
    return sections


def build(cls, values: Mapping[str, Any], defaults: Mapping[str, Any] | None = None):
    """An instance of ``cls`` from field values over ``defaults`` over the field defaults, with
    every option's bounds checked and then the class's own ``check()``."""
    known = {f.name for f in dataclasses.fields(cls)}
    merged = {k: v for k, v in (defaults or {}).items() if k in known}
    merged.update(values)
    return validate(cls(**merged))


def validate(instance):
    """Check every option of a configuration dataclass against its choices and bounds, then the
    class's own ``check()``; return the instance."""
    for field in options_of(type(instance)):
        check_bounds(field, getattr(instance, field.name))
    if hasattr(instance, "check"):
        instance.check()
    return instance


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file's table, or InputError naming the file."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{file}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{file}: cannot read the config file ({error})") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # lone \r line endings too
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{file}: not valid TOML ({error})") from None


# --- the command line ---------------------------------------------------------------------
TITLES = {"decode": "decoding (defaults for rnnkit translate and evaluate)", "train": "training"}


def add_arguments(parser: argparse.ArgumentParser, spec) -> None:
    """One flag per option of every section of a task spec, with the task's defaults in help."""
    for section, cls in spec.classes.items():
        group = parser.add_argument_group(TITLES.get(section, section))
        defaults = spec.defaults(section)
        for field in options_of(cls):
            add_option(group, cls, field, defaults[field.name])


def add_option(group, cls, field, default) -> None:
    """One ``--flag`` for ``field`` (dest = the field's name, absent when not given: a given
    ``none`` is None, so None cannot mean "not given")."""
    flag = "--" + flag_name(field)
    text = f"{field.metadata['help']} (default: {describe_default(field, default)})"
    text = text.replace("%", "%%")  # argparse formats help with %
    base, _ = field_type(cls, field)
    if base is bool:
        group.add_argument(
            flag,
            dest=field.name,
            action=argparse.BooleanOptionalAction,
            default=argparse.SUPPRESS,
            help=text,
        )
        return

    def parse(value: str):
        try:
            return from_text(cls, field, value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = getattr(base, "__name__", "value")
    metavar = "DURATION" if field.metadata.get("duration") else parse.__name__.upper()
    if typing.get_origin(base) is list:  # comma-separated: FLOATS, INTS
        metavar = typing.get_args(base)[0].__name__.upper() + "S"
    group.add_argument(
        flag,
        dest=field.name,
        type=parse,
        default=argparse.SUPPRESS,
        metavar=metavar,
        help=text,
    )


def given(args: argparse.Namespace, spec) -> dict:
    """The options given on the command line, over those of ``--config``."""
    values = {}
    if args.config:
        values.update(read_toml(args.config))
    for cls in spec.classes.values():
        for field in options_of(cls):
            if field.name in vars(args):  # given on the command line (``none`` as None)
                values.pop(flag_name(field), None)
                values[field.name] = getattr(args, field.name)
    return values
