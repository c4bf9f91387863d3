"""The version catalogue (`data/catalogue.yaml`): every pinned chart, module, image and action.

A bottom-layer module: renderers read versions from it, checks read the upstream file names.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import yaml

SECTIONS = ("charts", "modules", "images", "actions")
# Exact versions only: a range or a floating tag would make two builds install different things.
_RANGE = re.compile(r"[\^~*<>=|xX]|latest|\s")


class CatalogueError(KeyError):
    pass


@cache
def load() -> dict[str, dict[str, dict[str, Any]]]:
    text = resources.files("kubeplan").joinpath("data/catalogue.yaml").read_text("utf-8")
    data: dict[str, dict[str, dict[str, Any]]] = yaml.safe_load(text)
    return data


def entry(section: str, key: str) -> dict[str, Any]:
    """One pinned item; raises CatalogueError naming what is missing."""
    try:
        return load()[section][key]
    except KeyError:
        raise CatalogueError(f"the catalogue has no {section[:-1]} {key!r}") from None


def chart(key: str) -> dict[str, Any]:
    return entry("charts", key)


def module(key: str) -> dict[str, Any]:
    return entry("modules", key)


def image(key: str) -> dict[str, Any]:
    return entry("images", key)


def action(key: str) -> dict[str, Any]:
    return entry("actions", key)


def unpinned() -> list[str]:
    """Entries whose version is not an exact pin (the tests keep this empty)."""
    bad: list[str] = []
    for section in SECTIONS:
        for key, item in (load().get(section) or {}).items():
            version = str(item.get("version", item.get("sha", "")))
            if not version or _RANGE.search(version):
                bad.append(f"{section}.{key}: {version!r}")
    return bad
