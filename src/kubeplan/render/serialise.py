"""Serialisers: structured data in, byte-stable text out. No text templates for YAML/JSON."""

from __future__ import annotations

import json
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """Block style, no aliases, multi-line strings as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(tuple, lambda d, v: d.represent_list(list(v)))


def to_yaml(data: Any, *, sort_keys: bool = False) -> str:
    """One YAML document. Mapping order is the order the renderer built (deterministic)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=sort_keys, allow_unicode=True,
                     default_flow_style=False, width=100)


def to_yaml_stream(documents: list[Any]) -> str:
    """Several documents separated by `---`."""
    return "".join("---\n" + to_yaml(doc) for doc in documents)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
