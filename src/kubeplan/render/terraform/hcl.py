"""A small HCL emitter: Terraform files from data, formatted the way `terraform fmt` does.

Values are Python data: None, bool, int, float, str (always a quoted, escaped string literal),
list/tuple (a tuple constructor), dict (an object constructor) and `Expr` (an expression emitted
as is: a reference such as `module.network.network_name`, a function call, a template). Files
are sequences of `Block`, `Attribute`, `Comment` and `BLANK`.

Formatting follows hclwrite's rules so `terraform fmt` leaves the output unchanged: two-space
indentation, `=` aligned across consecutive single-line attributes (a blank line, a comment, a
nested block or a multi-line value ends the run), multi-line lists with trailing commas, and one
indent level per line however many brackets it opens (`jsonencode({`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeAlias

INDENT = "  "
# Lists of scalars stay on one line up to this width (a readability choice; fmt accepts both).
ONE_LINE_LIST = 80
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Expr:
    """An HCL expression, emitted unquoted (references, calls, templates, operators)."""

    text: str

    def attr(self, *names: str) -> Expr:
        """`module.x` -> `module.x.a.b`."""
        return Expr(".".join((self.text, *names)))

    def index(self, key: str | int) -> Expr:
        """`x` -> `x["key"]` / `x[0]`."""
        inner = str(key) if isinstance(key, int) else quote(key)
        return Expr(f"{self.text}[{inner}]")


Value: TypeAlias = "bool | int | float | str | Expr | Sequence[Value] | Mapping[str, Value] | None"


@dataclass(frozen=True)
class Attribute:
    name: str
    value: Value


@dataclass(frozen=True)
class Comment:
    text: str


@dataclass(frozen=True)
class Blank:
    pass


BLANK = Blank()


@dataclass(frozen=True)
class Block:
    """`type "label" ... { body }`; `address` identifies it within a root module."""

    type: str
    labels: tuple[str, ...] = ()
    body: tuple[Item, ...] = field(default_factory=tuple)

    @property
    def address(self) -> str:
        if self.type == "resource":
            return ".".join(self.labels)
        return ".".join((self.type, *self.labels))


Item: TypeAlias = "Attribute | Block | Comment | Blank"


def body(mapping: Mapping[str, Value | Block | Sequence[Block]] | None = None,
         *items: Item) -> tuple[Item, ...]:
    """Body items from a mapping (attributes; Block values become nested blocks) plus extras."""
    out: list[Item] = []
    for name, value in (mapping or {}).items():
        if isinstance(value, Block):
            out.append(value)
        elif isinstance(value, list | tuple) and value and all(isinstance(v, Block) for v in value):
            out.extend(v for v in value if isinstance(v, Block))
        else:
            out.append(Attribute(name, value))  # type: ignore[arg-type]
    out.extend(items)
    return tuple(out)


def block(type_: str, *labels: str, comments: Iterable[str] = (),
          **attributes: Value | Block | Sequence[Block]) -> Block:
    """A block from keyword attributes; `comments` go first (checkov skips, explanations)."""
    return Block(type_, labels, (*(Comment(c) for c in comments), *body(attributes)))


# --- expressions -------------------------------------------------------------------------


def ref(*parts: str) -> Expr:
    return Expr(".".join(parts))


def var(name: str) -> Expr:
    return Expr(f"var.{name}")


def local(name: str) -> Expr:
    return Expr(f"local.{name}")


def module_output(module: str, output: str) -> Expr:
    return Expr(f"module.{module}.{output}")


def call(name: str, *args: Value) -> Expr:
    """A function call; multi-line arguments are laid out the way fmt indents them."""
    rendered = [_value(a, 0) for a in args]
    return Expr(f"{name}({', '.join(rendered)})")


def template(*parts: str | Expr) -> Expr:
    """A string template: literal parts are escaped, expressions are interpolated."""
    text = "".join(_escape(p) if isinstance(p, str) else "${" + p.text + "}" for p in parts)
    return Expr(f'"{text}"')


# --- rendering ---------------------------------------------------------------------------


def _escape(text: str) -> str:
    out = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
           .replace("\r", "\\r").replace("\t", "\\t"))
    # Template sequences must not start in a literal string.
    return out.replace("${", "$${").replace("%{", "%%{")


def quote(text: str) -> str:
    return f'"{_escape(text)}"'


def _number(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text


def _key(name: str) -> str:
    return name if _IDENTIFIER.match(name) else quote(name)


def _reindent(text: str, level: int) -> str:
    """Indent the continuation lines of a multi-line value rendered at level 0."""
    if "\n" not in text:
        return text
    first, *rest = text.split("\n")
    pad = INDENT * level
    return "\n".join([first, *((pad + line) if line else line for line in rest)])


def _value(value: Value, level: int) -> str:
    """A value as it appears after `name = ` on a line indented by `level`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Expr):
        return _reindent(value.text, level)
    if isinstance(value, Mapping):
        return _object(value, level)
    return _list(list(value), level)


def _list(values: list[Value], level: int) -> str:
    if not values:
        return "[]"
    rendered = [_value(v, level + 1) for v in values]
    simple = all("\n" not in r for r in rendered) and not any(
        isinstance(v, Mapping) for v in values)
    one_line = "[" + ", ".join(rendered) + "]"
    if simple and len(one_line) <= ONE_LINE_LIST:
        return one_line
    pad = INDENT * (level + 1)
    lines = ["["] + [f"{pad}{r}," for r in rendered] + [INDENT * level + "]"]
    return "\n".join(lines)


def _object(mapping: Mapping[str, Value], level: int) -> str:
    if not mapping:
        return "{}"
    items = [Attribute(k, v) for k, v in mapping.items()]
    lines = _body_lines(items, level + 1, key=_key)
    return "\n".join(["{", *lines, INDENT * level + "}"])


def _plain(name: str) -> str:
    return name


def _body_lines(items: Sequence[Item], level: int,
                key: Callable[[str], str] = _plain) -> list[str]:
    """Lines of a body at `level`, with hclwrite's alignment of `=` in single-line runs."""
    keyfn = key
    pad = INDENT * level
    lines: list[str] = []
    run: list[tuple[str, str]] = []  # (name, value) of consecutive single-line attributes

    def flush() -> None:
        if run:
            width = max(len(n) for n, _ in run)
            lines.extend(f"{pad}{n.ljust(width)} = {v}" for n, v in run)
            run.clear()

    previous: Item | None = None
    for item in items:
        if isinstance(item, Attribute):
            name = keyfn(item.name)
            rendered = _value(item.value, level)
            if "\n" in rendered:
                flush()
                lines.append(f"{pad}{name} = {rendered}")
            else:
                run.append((name, rendered))
        else:
            flush()
            if isinstance(item, Blank):
                lines.append("")
            elif isinstance(item, Comment):
                lines.append(f"{pad}# {item.text}" if item.text else f"{pad}#")
            else:
                if previous is not None and not isinstance(previous, Blank | Comment):
                    lines.append("")
                lines.extend(_block_lines(item, level))
        previous = item
    flush()
    return lines


def _block_lines(b: Block, level: int) -> list[str]:
    pad = INDENT * level
    head = " ".join([b.type, *(quote(label) for label in b.labels)])
    if not b.body:
        return [f"{pad}{head} {{}}"]
    return [f"{pad}{head} {{", *_body_lines(b.body, level + 1), f"{pad}}}"]


def render_file(items: Iterable[Item]) -> str:
    """A whole .tf file: top-level blocks separated by one blank line, trailing newline."""
    out: list[str] = []
    for item in items:
        if isinstance(item, Block):
            if out and out[-1] != "" and not out[-1].lstrip().startswith("#"):
                out.append("")
            out.extend(_block_lines(item, 0))
        elif isinstance(item, Comment):
            if out and out[-1] != "":
                out.append("")
            out.append(f"# {item.text}" if item.text else "#")
        elif isinstance(item, Blank):
            if out and out[-1] != "":
                out.append("")
        else:
            out.append(f"{item.name} = {_value(item.value, 0)}")
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


__all__ = [
    "BLANK",
    "Attribute",
    "Blank",
    "Block",
    "Comment",
    "Expr",
    "Item",
    "Value",
    "block",
    "body",
    "call",
    "local",
    "module_output",
    "quote",
    "ref",
    "render_file",
    "template",
    "var",
]
