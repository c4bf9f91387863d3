"""Reading `platform.yaml` into a validated spec, with every problem located in the file.

PyYAML's composer gives each node a start mark; we build plain Python data from the node graph
ourselves so that we keep a map from field path to (line, column), refuse duplicate keys, and
bound the work a hostile file can cause (size, node count, alias expansion).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from kubeplan.errors import Location, Path, Problem, SpecError
from kubeplan.spec.models import RECEIVER_TYPES, RECEIVERS, Platform

MAX_BYTES = 256 * 1024
_CONSTRUCTOR = yaml.SafeLoader("")
MAX_NODES = 20_000


@dataclass(frozen=True)
class SourceMap:
    """Field path -> position in the user's file (1-based)."""

    file: str
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path) -> Location:
        """The position of `path`, or of its closest ancestor present in the file."""
        probe = tuple(path)
        while probe:
            if probe in self.positions:
                line, column = self.positions[probe]
                return Location(self.file, line, column)
            probe = probe[:-1]
        if () in self.positions:
            line, column = self.positions[()]
            return Location(self.file, line, column)
        return Location(self.file)


@dataclass(frozen=True)
class LoadedSpec:
    platform: Platform
    source: SourceMap


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.positions: dict[Path, tuple[int, int]] = {}
        self.nodes = 0

    def _problem(self, node: yaml.Node, message: str, path: Path, hint: str | None = None) -> SpecError:
        loc = Location(self.file, node.start_mark.line + 1, node.start_mark.column + 1)
        return SpecError([Problem(message, path, hint, loc)])

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self._problem(
                node,
                f"the document has more than {MAX_NODES} values; a platform spec is a few dozen",
                path,
                "check that this is the right file (aliases expanding to huge trees count too)",
            )
        self.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self._problem(key_node, "merge keys (<<) are not supported", path)
                key = self._scalar(key_node)
                if not isinstance(key, str):
                    raise self._problem(
                        key_node, f"keys must be strings, not {type(key).__name__} {key!r}", path
                    )
                if key in out:
                    first = self.positions.get((*path, key), (0, 0))[0]
                    raise self._problem(
                        key_node,
                        f"duplicate key {key!r} (first given on line {first})",
                        (*path, key),
                        "remove one of the two; YAML would silently keep only the last",
                    )
                self.positions[(*path, key)] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node)

    @staticmethod
    def _scalar(node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return node  # rejected by the caller as a non-string key
        # YAML 1.2 booleans: only true/false. PyYAML follows YAML 1.1, where `off`, `no` and
        # `on` are booleans, so `mtls: off` would silently become False. Editors (and the
        # yaml-language-server schema check) read such words as strings; so do we.
        if node.tag == "tag:yaml.org,2002:bool" and node.style is None \
                and node.value.lower() not in ("true", "false"):
            return node.value
        return _CONSTRUCTOR.construct_object(node)


def parse_yaml(text: str, file: str) -> tuple[Any, SourceMap]:
    """YAML text -> (data, source map); raises SpecError located in `file`."""
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise SpecError(
            [Problem(f"the file is larger than {MAX_BYTES // 1024} KiB; a platform spec is a "
                     "page of YAML", location=Location(file),
                     hint="check that this is the right file")]
        )
    if "\x00" in text:
        raise SpecError([Problem("the file contains NUL bytes; it is not YAML text",
                                 location=Location(file))])
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        reason = exc.problem or exc.context or "malformed YAML"
        raise SpecError(
            [Problem(f"malformed YAML: {reason}", location=loc,
                     hint="check indentation and quoting near this position")]
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(f"malformed YAML: {exc}", location=Location(file))]) from None
    documents = [n for n in nodes if n is not None]
    if not documents:
        raise SpecError(
            [Problem("the file is empty; a platform spec starts with "
                     "'apiVersion: kubeplan.dev/v1alpha1' and 'kind: Platform'",
                     location=Location(file, 1, 1),
                     hint="run `kubeplan init` to write a commented starting point")]
        )
    if len(documents) > 1:
        second = documents[1]
        raise SpecError(
            [Problem("the file holds several YAML documents; give one Platform per file",
                     location=Location(file, second.start_mark.line + 1,
                                       second.start_mark.column + 1))]
        )
    builder = _Builder(file)
    try:
        data = builder.build(documents[0], ())
    except RecursionError:
        raise SpecError([Problem("the document nests too deeply", location=Location(file))]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(f"malformed YAML: {exc}", location=Location(file))]) from None
    if not isinstance(data, dict):
        raise SpecError(
            [Problem(f"the document is a {_kind(data)}, but a platform spec is a mapping with "
                     "apiVersion, kind, metadata and spec", location=Location(file, 1, 1))]
        )
    return data, SourceMap(file, builder.positions)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return type(value).__name__


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _fields_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str] | None:
    """The YAML keys allowed at `loc` (the parent of an unknown key), walking the model."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        by_alias = {(f.alias or name): f for name, f in current.model_fields.items()}
        if part not in by_alias:
            return None
        current = _model_of(by_alias[part].annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [(f.alias or name) for name, f in current.model_fields.items()]
    return None


def _model_of(annotation: Any) -> Any:
    """The BaseModel inside an annotation such as `tuple[Receiver, ...]` or `X | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _problem_from(err: Any, data: Any, source: SourceMap) -> Problem:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    kind: str = err["type"]
    # Discriminated unions add the tag name to the path (alertReceivers[0].slack.channel).
    path: Path = tuple(p for p in loc if p not in RECEIVER_TYPES)
    hint: str | None = None
    message: str = err["msg"]
    if kind == "extra_forbidden":
        key = str(path[-1])
        allowed = _fields_at(Platform, path[:-1]) or []
        if len(path) >= 2 and isinstance(path[-2], int):  # inside alertReceivers[i]
            allowed = _receiver_fields(data, path)
        message = f"unknown key {key!r}"
        guess = did_you_mean(key, allowed)
        hint = (f"did you mean {guess!r}? " if guess else "") + (
            f"allowed keys here: {', '.join(allowed)}" if allowed else ""
        )
    elif kind in ("literal_error", "enum"):
        expected = err.get("ctx", {}).get("expected", "")
        choices = [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",") if c.strip()]
        given = err.get("input")
        message = f"{given!r} is not allowed; choose one of: {', '.join(choices)}"
        if isinstance(given, str):
            guess = did_you_mean(given, choices)
            hint = f"did you mean {guess!r}?" if guess else None
    elif kind == "union_tag_invalid":
        given = err.get("ctx", {}).get("tag")
        message = f"unknown receiver type {given!r}; choose one of: {', '.join(RECEIVER_TYPES)}"
        guess = did_you_mean(str(given), RECEIVER_TYPES)
        hint = f"did you mean {guess!r}?" if guess else None
        path = (*path, "type")
    elif kind == "union_tag_not_found":
        message = f"each receiver needs a 'type': one of {', '.join(RECEIVER_TYPES)}"
    elif kind == "missing":
        message = f"required key {str(path[-1])!r} is missing"
    elif kind == "value_error":
        message = str(err.get("ctx", {}).get("error", message))
    elif kind == "string_pattern_mismatch" and path and path[-1] in ("rpo", "rto", "retention"):
        message = (f"{err.get('input')!r} is not a duration; write a whole number and one unit "
                   "of s, m, h, d, w (for example 30m, 1h, 15d)")
    elif kind.endswith("_type") or kind.endswith("_parsing"):
        message = f"{message} (got {_kind(err.get('input'))} {err.get('input')!r})"
    location = source.locate(path) if kind != "missing" else source.locate(path[:-1])
    return Problem(message=message, path=path, hint=hint, location=location)


def _receiver_fields(data: Any, path: Path) -> list[str]:
    node: Any = data
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return []
    model = RECEIVERS.get(str(node.get("type"))) if isinstance(node, dict) else None
    if model is None:
        return []
    return [(f.alias or n) for n, f in model.model_fields.items()]


def validate(data: Any, source: SourceMap) -> Platform:
    """Plain data -> Platform, or a SpecError listing every located problem."""
    try:
        return Platform.model_validate(data)
    except ValidationError as exc:
        problems = [_problem_from(err, data, source) for err in exc.errors(include_url=False)]
        problems.sort(key=lambda p: (p.location.line or 0, p.location.column or 0) if p.location else (0, 0))
        raise SpecError(problems) from None


def load_text(text: str, file: str = "platform.yaml") -> LoadedSpec:
    data, source = parse_yaml(text, file)
    return LoadedSpec(validate(data, source), source)


def load_file(path: FsPath) -> LoadedSpec:
    """Read and validate a spec file; every failure is a located SpecError."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError([Problem("no such file", location=Location(name),
                                 hint="run `kubeplan init` to write one")]) from None
    except IsADirectoryError:
        raise SpecError([Problem("this is a directory, not a spec file",
                                 location=Location(name))]) from None
    except OSError as exc:
        raise SpecError([Problem(f"cannot read the file: {exc.strerror}",
                                 location=Location(name))]) from None
    if len(raw) > MAX_BYTES:
        raise SpecError(
            [Problem(f"the file is larger than {MAX_BYTES // 1024} KiB; a platform spec is a "
                     "page of YAML", location=Location(name),
                     hint="check that this is the right file")]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([Problem(f"the file is not UTF-8 text (byte {exc.start})",
                                 location=Location(name))]) from None
    return load_text(text, name)
