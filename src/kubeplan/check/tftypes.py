"""Terraform type constraints and version constraints, enough to hold a module call against the
module's declared interface.

`parse_type` reads a type constraint as python-hcl2 prints it on one line
(`list(object({name = string, ports = optional(list(string), [])}))`); `conforms` checks a
literal value (as python-hcl2 parses it) against it: object attributes the type does not declare
(which Terraform would silently drop) and missing required attributes are reported. Expressions
(`${...}`) are not evaluated and always conform.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Type:
    kind: str  # string number bool any list set map tuple object
    element: Type | None = None  # list, set, map
    attributes: dict[str, tuple[Type, bool]] = field(default_factory=dict)  # object: optional?
    elements: tuple[Type, ...] = ()  # tuple


ANY = Type("any")
_TOKEN = re.compile(r'\s*(?:(?P<word>[A-Za-z_][A-Za-z0-9_-]*)|(?P<string>"(?:[^"\\]|\\.)*")'
                    r"|(?P<punct>[(){}\[\],=])|(?P<other>[^\s(){}\[\],=\"]+))")


class TypeSyntaxError(ValueError):
    pass


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if not match or match.end() == pos:
                if text[pos:].strip() == "":
                    break
                raise TypeSyntaxError(f"cannot read type at {text[pos:pos + 20]!r}")
            token = next(g for g in match.groups() if g is not None)
            self.tokens.append(token)
            pos = match.end()
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise TypeSyntaxError(f"expected {expected!r}, found {token!r}")
        self.pos += 1
        return token

    def skip_value(self) -> None:
        """Skip a literal default (optional(T, default)) up to the closing parenthesis."""
        depth = 0
        while True:
            token = self.peek()
            if token is None:
                raise TypeSyntaxError("unterminated default")
            if token in "([{" and len(token) == 1:
                depth += 1
            elif token in ")]}" and len(token) == 1:
                if depth == 0:
                    return
                depth -= 1
            self.pos += 1

    def type(self) -> Type:
        word = self.take()
        if word in ("string", "number", "bool", "any"):
            return Type(word)
        if word in ("list", "set", "map"):
            self.take("(")
            element = self.type()
            self.take(")")
            return Type(word, element=element)
        if word == "tuple":
            self.take("(")
            self.take("[")
            elements = []
            while self.peek() != "]":
                elements.append(self.type())
                if self.peek() == ",":
                    self.take(",")
            self.take("]")
            self.take(")")
            return Type("tuple", elements=tuple(elements))
        if word == "object":
            self.take("(")
            self.take("{")
            attributes: dict[str, tuple[Type, bool]] = {}
            while self.peek() != "}":
                name = self.take().strip('"')
                self.take("=")
                optional = self.peek() == "optional"
                if optional:
                    self.take("optional")
                    self.take("(")
                    attr = self.type()
                    if self.peek() == ",":
                        self.take(",")
                        self.skip_value()
                    self.take(")")
                else:
                    attr = self.type()
                attributes[name] = (attr, optional)
                if self.peek() == ",":
                    self.take(",")
            self.take("}")
            self.take(")")
            return Type("object", attributes=attributes)
        raise TypeSyntaxError(f"unknown type {word!r}")


def parse_type(text: str | None) -> Type:
    if not text:
        return ANY
    parser = _Parser(text)
    result = parser.type()
    if parser.peek() is not None:
        raise TypeSyntaxError(f"trailing text in type {text!r}")
    return result


def is_expression(value: Any) -> bool:
    """A value python-hcl2 left as an expression (reference, call, template)."""
    if not isinstance(value, str):
        return False
    if value.startswith("${"):
        return True
    return value.startswith('"') and "${" in value


def _key(name: str) -> str:
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name


def conforms(value: Any, of: Type, path: str = "") -> list[str]:
    """Problems of a literal `value` against type `of` (empty when it conforms)."""
    if value is None or of.kind == "any" or is_expression(value):
        return []
    where = path or "value"
    if of.kind in ("string", "number", "bool"):
        if isinstance(value, dict | list):
            got = "an object" if isinstance(value, dict) else "a list"
            return [f"{where}: expected a {of.kind}, got {got}"]
        if of.kind == "bool" and isinstance(value, int | float) and not isinstance(value, bool):
            return [f"{where}: expected a bool, got a number"]
        return []
    if of.kind in ("list", "set", "tuple"):
        if not isinstance(value, list):
            return [f"{where}: expected a {of.kind}"]
        problems: list[str] = []
        for index, item in enumerate(value):
            element = (of.elements[index] if of.kind == "tuple" and index < len(of.elements)
                       else of.element or ANY)
            problems += conforms(item, element, f"{where}[{index}]")
        return problems
    if not isinstance(value, dict):
        return [f"{where}: expected an {'object' if of.kind == 'object' else 'map'}"]
    items = {_key(k): v for k, v in value.items() if not k.startswith("__")}
    if of.kind == "map":
        problems = []
        for name, item in items.items():
            problems += conforms(item, of.element or ANY, f"{where}.{name}")
        return problems
    problems = []
    for name, item in items.items():
        if name not in of.attributes:
            known = ", ".join(sorted(of.attributes))
            problems.append(f"{where}: attribute {name!r} is not declared by the type "
                            f"(Terraform would drop it); declared: {known}")
            continue
        problems += conforms(item, of.attributes[name][0], f"{where}.{name}")
    for name, (_, optional) in of.attributes.items():
        if not optional and name not in items:
            problems.append(f"{where}: required attribute {name!r} is missing")
    return problems


# --- version constraints -------------------------------------------------------------------

_CONSTRAINT = re.compile(r"^\s*(>=|<=|!=|~>|>|<|=)?\s*v?([0-9]+(?:\.[0-9]+){0,2})\s*$")
EXACT = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")


def _version(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.split(".")]
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def satisfies(version: str, constraints: str) -> bool:
    """Does the exact `version` meet a Terraform constraint string such as `>= 4.64, < 8`?"""
    have = _version(version)
    for part in constraints.split(","):
        match = _CONSTRAINT.match(part)
        if not match:
            raise ValueError(f"cannot read version constraint {part!r}")
        op, text = match.group(1) or "=", match.group(2)
        want = _version(text)
        if op == "~>":
            depth = text.count(".")
            upper = (want[0] + 1, 0, 0) if depth <= 1 else (want[0], want[1] + 1, 0)
            ok = want <= have < upper
        else:
            ok = {">=": have >= want, "<=": have <= want, ">": have > want, "<": have < want,
                  "=": have == want, "!=": have != want}[op]
        if not ok:
            return False
    return True
