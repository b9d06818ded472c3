"""Typed configuration: dataclasses that round-trip through JSON.

Each part of the library defines the dataclass of its own settings next to
the code it configures (``AudioConfig`` in :mod:`vfhgan_core.audio`,
``GeneratorConfig`` in :mod:`vfhgan_core.models.generator`, ...). This module
only knows how to turn any such dataclass into plain JSON and back, so the
same object can be written next to a checkpoint, into a model card and into
the app's state.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def to_dict(obj: Any) -> Any:
    """Return a JSON-ready copy of a dataclass (recursively; tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _coerce(tp: Any, value: Any) -> Any:
    """Convert a JSON value to the annotated type ``tp`` (dataclasses, tuples, Optional)."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        for candidate in non_none:
            if dataclasses.is_dataclass(candidate) and isinstance(value, dict):
                return from_dict(candidate, value)
        if len(non_none) == 1:
            return _coerce(non_none[0], value)
        return value
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return from_dict(tp, value)
    if origin is tuple and isinstance(value, (list, tuple)):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v) for v in value)
        if args:
            return tuple(_coerce(a, v) for a, v in zip(args, value))
        return tuple(value)
    if origin is list and isinstance(value, (list, tuple)):
        return [_coerce(args[0], v) if args else v for v in value]
    if tp is tuple and isinstance(value, list):
        return tuple(value)
    if tp is Path and isinstance(value, str):
        return Path(value)
    if tp is float and isinstance(value, int):
        return float(value)
    return value


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from a dict made by :func:`to_dict`.

    Unknown keys raise ``ValueError`` naming them, so a typo in a config file
    is reported instead of silently ignored; missing keys take their defaults.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(unknown)} for {cls.__name__}; "
            f"valid fields are: {', '.join(sorted(names))}"
        )
    kwargs = {k: _coerce(hints.get(k, Any), v) for k, v in data.items()}
    return cls(**kwargs)


def save_json(obj: Any, path: str | Path) -> None:
    """Write a dataclass as indented JSON."""
    Path(path).write_text(json.dumps(to_dict(obj), indent=2, sort_keys=False) + "\n")


def load_json(cls: type[T], path: str | Path) -> T:
    """Read a dataclass written by :func:`save_json`."""
    return from_dict(cls, json.loads(Path(path).read_text()))
