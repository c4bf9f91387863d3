"""Serialisers for the two log-shipper configuration languages, from data.

Grafana Alloy reads its own block syntax (`kind "label" { attr = value }`) and Fluent Bit its
classic sections (`[SECTION]` then `Key Value` lines). Both are written from structured data
here, with quoting done in one place, rather than filled into text templates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Expr:
    """An Alloy expression written as is: a component export or a function call."""

    text: str


@dataclass(frozen=True)
class Block:
    """An Alloy block: `name "label" { ... }` (label optional)."""

    name: str
    label: str | None = None
    body: Sequence[tuple[str, Any] | Block] = field(default_factory=tuple)


def _alloy_value(value: Any, indent: int) -> str:
    if isinstance(value, Expr):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)  # Alloy strings take the same escapes as JSON
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_alloy_value(v, indent) for v in value) + "]"
    if isinstance(value, dict):
        pad = "  " * (indent + 1)
        items = "".join(f"{pad}{k} = {_alloy_value(v, indent + 1)},\n"
                        for k, v in value.items())
        return "{\n" + items + "  " * indent + "}"
    raise TypeError(f"no Alloy form for {value!r}")


def _alloy_block(block: Block, indent: int) -> str:
    pad = "  " * indent
    head = block.name + (f" {json.dumps(block.label)}" if block.label is not None else "")
    lines = [f"{pad}{head} {{"]
    for item in block.body:
        if isinstance(item, Block):
            lines.append(_alloy_block(item, indent + 1))
        else:
            key, value = item
            lines.append(f"{pad}  {key} = {_alloy_value(value, indent + 1)}")
    lines.append(f"{pad}}}")
    return "\n".join(lines)


def alloy(blocks: Sequence[Block]) -> str:
    return "\n\n".join(_alloy_block(b, 0) for b in blocks) + "\n"


def fluent_bit(sections: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> str:
    """Classic-mode sections: [(NAME, [(Key, Value), ...]), ...]."""
    out = []
    for name, entries in sections:
        width = max((len(k) for k, _ in entries), default=0)
        body = "".join(f"    {k.ljust(width)} {v}\n" for k, v in entries)
        out.append(f"[{name}]\n{body}")
    return "\n".join(out)
