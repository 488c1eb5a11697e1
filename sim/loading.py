"""The one loader of the project's YAML inputs (scenarios, the record, experiments).

A file is read as a YAML mapping and validated by a pydantic model. Whatever goes wrong is told in
lines of the form ``label: dotted.field: message``, where the label names the file, the dotted path
is the one ``--set`` takes (``places.3.garrison``), an item that has an ``id`` or a ``name`` is named
after its index (``control_claims.0 (id 'x').day``), and an unknown key lists the valid keys.
Each kind of input raises its own subclass of :class:`LoadError`, which the CLI reports with exit
status 2.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

# libyaml's safe loader when PyYAML was built with it (the wheels are): the same documents, parsed
# about ten times faster than the pure-Python one, which made reading a scenario cost as much as a
# fifth of a run
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LoadError(Exception):
    """An input file that cannot be used; the message names the file and the field."""


def read_mapping(path: Path, kind: str, error: type[LoadError] = LoadError) -> dict[str, Any]:
    """The YAML mapping in ``path``; ``kind`` ("scenario", "record", ...) words the errors."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except FileNotFoundError:
        raise error(f"{path}: no such {kind} file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {kind}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise error(f"{path}: the {kind} file must hold a mapping of keys to values")
    return raw


def named_file(name_or_path: str | Path, folder: Path) -> Path:
    """An input's file: a path as given (a ``.yaml`` name or an existing file), or ``folder/<name>.yaml``."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return folder / f"{name_or_path}.yaml"


def parse[M: BaseModel](model: type[M], raw: dict[str, Any], label: str, error: type[LoadError] = LoadError) -> M:
    """``raw`` parsed by pydantic ``model``; on failure ``error`` with one line per problem, each starting ``label``."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(describe_errors(exc, label, model, raw)) from None


def load[M: BaseModel](model: type[M], path: Path, kind: str, error: type[LoadError] = LoadError) -> M:
    """Read ``path`` (see :func:`read_mapping`) and parse it by ``model``."""
    return parse(model, read_mapping(path, kind, error), str(path), error)


def describe_errors(exc: ValidationError, label: str, model: type[BaseModel], raw: Any) -> str:
    """Pydantic's errors as ``label: dotted.field: message`` lines (see the module docstring)."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message += _valid_keys_hint(model, loc)
        lines.append(f"{label}: {_describe_location(raw, loc)}: {message}")
    return "\n".join(lines)


def _describe_location(raw: Any, loc: tuple[int | str, ...]) -> str:
    """The dotted path of ``loc``, each list item followed by its id or name in the raw file, if it has one."""
    parts: list[str] = []
    node = raw
    for key in loc:
        parts.append(str(key))
        if isinstance(key, int) and isinstance(node, list):
            node = node[key] if key < len(node) else None
            if isinstance(node, dict):
                named = [(k, node[k]) for k in ("id", "name") if isinstance(node.get(k), str)]
                parts[-1] += f" ({named[0][0]} {named[0][1]!r})" if named else ""
        else:
            node = node.get(key) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


def _valid_keys_hint(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """The keys that would have been valid where the unknown key ``loc[-1]`` was found ("" when unknown)."""
    annotation: Any = model
    for key in loc[:-1]:
        annotation = _step(annotation, key)
        if annotation is None:
            return ""
    found = _models_in(annotation)
    if len(found) != 1:
        return ""
    return f" (valid keys: {', '.join(found[0].model_fields)})"


def _step(annotation: Any, key: int | str) -> Any:
    """The annotation one key deeper: a field of a model, an item of a list, a value of a dict."""
    for model in _models_in(annotation):
        if isinstance(key, str) and key in model.model_fields:
            return model.model_fields[key].annotation
    for inner in _unwrapped(annotation):
        origin = typing.get_origin(inner)
        if (origin in (list, tuple) and isinstance(key, int)) or (origin is dict and isinstance(key, str)):
            return typing.get_args(inner)[-1]
    return None


def _unwrapped(annotation: Any) -> list[Any]:
    """The members of a union (``X | None``) or the annotation itself."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [member for arg in typing.get_args(annotation) for member in _unwrapped(arg)]
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrapped(typing.get_args(annotation)[0])
    return [annotation]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation names directly (not inside a list or dict)."""
    return [a for a in _unwrapped(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
