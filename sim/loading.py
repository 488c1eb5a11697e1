"""The one loader of the project's YAML inputs (scenarios, the record, experiments).

A file is read as a YAML mapping and validated by a pydantic model. Whatever goes wrong is told in
lines of the form ``label: dotted.field: message``, where the label names the file, the dotted path
is the one ``--set`` takes (``places.3.garrison``), an item that has an ``id`` or a ``name`` is named
after its index (``control_claims.0 (id 'x').day``), and an unknown key lists the valid keys.
Each kind of input raises its own subclass of :class:`LoadError`, which the CLI reports with exit
status 2.

Nothing in a file can make reading it unbounded: a file is a regular file of at most
``MAX_FILE_BYTES`` of UTF-8; aliases (which can stand for a billion items), nesting deeper than
``MAX_DEPTH`` and repeated keys are refused before the document is built; only
``true`` and ``false`` are booleans (YAML 1.2); every model derives from :class:`InputModel`, which
refuses unknown keys and infinite or NaN floats, and bounds its counts in its fields.
"""

from __future__ import annotations

import re
import stat
import types
import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

# libyaml's safe loader when PyYAML was built with it (the wheels are): the same documents, parsed
# about ten times faster than the pure-Python one, which made reading a scenario cost as much as a
# fifth of a run
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_FILE_BYTES = 1_048_576  # assumption: a scenario is about 15 KB and the record 73 KB; a MiB is ample
MAX_DEPTH = 32  # assumption: the shipped files nest at most 7 levels; deeper is a mistake or an attack


class LoadError(Exception):
    """An input file that cannot be used; the message names the file and the field."""


def _takes_bool(annotation: Any) -> bool:
    """Whether a field of this annotation may hold a boolean (pydantic would otherwise read true as 1)."""
    return annotation is bool or any(_takes_bool(a) for a in typing.get_args(annotation)) or annotation is Any


class InputModel(BaseModel):
    """Base of every model of an input file: unknown keys are errors, and so are infinite and NaN floats.

    So is a boolean where a number is asked for: pydantic would read ``replicates: true`` as 1.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and not _takes_bool(cls.model_fields[info.field_name].annotation):
            raise ValueError(f"must not be a boolean (got {str(value).lower()})")
        return value


def _safe_name(name: str) -> str:
    if not SAFE_NAME.fullmatch(name):
        raise ValueError(
            "must be 1-64 letters, digits, '-', '_' or '.', not starting with '.' (it names output folders)"
        )
    return name


SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
SafeName = Annotated[str, AfterValidator(_safe_name)]
"""A name that is used in output paths: one path component, never ``..``, absolute or hidden."""


class InputLoader(SAFE_LOADER):  # type: ignore[misc, valid-type]
    """The safe loader with YAML 1.2's booleans: only true and false.

    ``yes``, ``no``, ``on`` and ``off`` stay words instead of becoming booleans (and then counts:
    ``replicates: yes`` was read as 1).
    """

    yaml_implicit_resolvers: ClassVar = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in SAFE_LOADER.yaml_implicit_resolvers.items()
    }


InputLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def parse_yaml(text: str, label: str, error: type[LoadError] = LoadError) -> Any:
    """The YAML document in ``text``; ``error`` naming ``label`` if it cannot be read.

    Aliases, nesting deeper than ``MAX_DEPTH`` and repeated keys are refused before the document is
    built (see :func:`_check_nodes`); every problem is told in one line.
    """
    loader = InputLoader(text)
    try:
        root = loader.get_single_node()  # libyaml itself refuses nesting deeper than 1,000
        if root is None:
            return None
        _check_nodes(root, label, error)
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{label}: not valid YAML: {problem}{where}") from None
    except ValueError as exc:  # a value the constructor cannot make: an integer of more than 4,300 digits
        raise error(f"{label}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def _check_nodes(root: yaml.Node, label: str, error: type[LoadError]) -> None:
    """Refuse what the constructor would expand, nest or overwrite: one walk over the composed nodes.

    An alias is a node met twice; it can stand for a whole subtree, so nine of them nested make a
    billion items ("billion laughs") out of a few hundred bytes. A repeated key would silently
    replace the first. The walk keeps each node's path, for the message.
    """

    def refuse(path: tuple[Any, ...], problem: str) -> LoadError:
        where = ".".join(str(step) for step in path) or "(top level)"
        return error(f"{label}: {where}: {problem}")

    seen: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[Any, ...]]] = [(root, ())]  # popped in the document's order
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            raise refuse(path, "aliases (*name) are not allowed")  # an alias's node is its anchor's: no line
        seen.add(id(node))
        if len(path) > MAX_DEPTH:
            raise refuse(path[:3], f"... nested deeper than {MAX_DEPTH} levels (line {node.start_mark.line + 1})")
        if type(node) is yaml.MappingNode:
            keys: dict[str, yaml.Node] = {}
            for key, value in reversed(node.value):
                if type(key) is not yaml.ScalarNode:
                    raise refuse(
                        path, f"a key must be a plain value, not a list or mapping (line {key.start_mark.line + 1})"
                    )
                if key.value in keys:
                    lines = f"lines {key.start_mark.line + 1} and {keys[key.value].start_mark.line + 1}"
                    raise refuse((*path, key.value), f"duplicate key ({lines})")
                keys[key.value] = key
                stack.append((value, (*path, key.value)))
        elif type(node) is yaml.SequenceNode:
            stack.extend((node.value[i], (*path, i)) for i in range(len(node.value) - 1, -1, -1))


def read_text(path: Path, kind: str, error: type[LoadError] = LoadError) -> str:
    """The text of ``path``: a regular file of at most ``MAX_FILE_BYTES`` bytes of UTF-8, or ``error``."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise error(f"{path}: is a folder, not a {kind} file")
        if not stat.S_ISREG(mode):  # a pipe would block, a device would never end
            raise error(f"{path}: not a regular file, so not a {kind} file")
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise error(f"{path}: no such {kind} file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {kind}: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise error(f"{path}: larger than {MAX_FILE_BYTES:,} bytes, too large for a {kind} file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not a UTF-8 text file (byte {exc.start} cannot be read), so not a {kind} file") from None


def read_mapping(path: Path, kind: str, error: type[LoadError] = LoadError) -> dict[str, Any]:
    """The YAML mapping in ``path``; ``kind`` ("scenario", "record", ...) words the errors."""
    raw = parse_yaml(read_text(path, kind, error), str(path), error)
    if not isinstance(raw, dict):
        raise error(f"{path}: the {kind} file must hold a mapping of keys to values")
    return raw


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
