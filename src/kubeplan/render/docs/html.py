"""A minimal HTML element tree: elements are data, text and attributes are escaped on output.

The report is built from these rather than from a text template, so a rationale containing `<`
or `&` cannot break the page. `Raw` marks the one trusted fragment, the generated SVG.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape

VOID = frozenset({"meta", "link", "br", "hr", "img", "col"})


@dataclass(frozen=True)
class Raw:
    """Markup inserted as is (only for content kubeplan generated and parsed itself)."""

    markup: str


@dataclass
class Element:
    tag: str
    attrs: Mapping[str, str | None] = field(default_factory=dict)
    children: list[Element | Raw | str] = field(default_factory=list)

    def add(self, *children: Element | Raw | str | None) -> Element:
        self.children.extend(c for c in children if c is not None)
        return self


def h(tag: str, attrs: Mapping[str, str | None] | None = None,
      *children: Element | Raw | str | None) -> Element:
    return Element(tag, dict(attrs or {}), [c for c in children if c is not None])


def render(node: Element | Raw | str) -> str:
    if isinstance(node, Raw):
        return node.markup
    if isinstance(node, str):
        return escape(node, quote=False)
    attrs = "".join(f' {name}="{escape(value, quote=True)}"' if value is not None else f" {name}"
                    for name, value in node.attrs.items())
    if node.tag in VOID:
        return f"<{node.tag}{attrs}>"
    inner = "".join(render(child) for child in node.children)
    return f"<{node.tag}{attrs}>{inner}</{node.tag}>"


def document(head: Element, body: Element) -> str:
    return "<!DOCTYPE html>\n" + render(h("html", {"lang": "en"}, head, body)) + "\n"
