"""Shared helpers of the Terraform tests: render the Terraform target alone for an example."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from kubeplan import app
from kubeplan.blocks._terraform import render_terraform
from kubeplan.check import terraform as check_terraform
from kubeplan.check.terraform import parse
from kubeplan.model import Plan
from kubeplan.render.tree import OutputTree


@dataclass(frozen=True)
class Rendered:
    example: str
    plan: Plan
    files: dict[str, bytes]

    @property
    def provider(self) -> str:
        return self.plan.metadata.provider

    @cached_property
    def _tf(self) -> dict[str, str]:
        return {p: b.decode() for p, b in self.files.items() if p.endswith(".tf")}

    def tf(self) -> dict[str, str]:
        return self._tf

    @cached_property
    def _parsed(self) -> dict[str, dict[str, object]]:
        return {p: parse(t) for p, t in self.tf().items()}

    def parsed(self) -> dict[str, dict[str, object]]:
        """Every .tf file parsed once (python-hcl2 is slow)."""
        return self._parsed


def plan_of(example: str) -> Plan:
    return app.plan(app.load_spec(None, example).loaded)


def render(example: str, plan: Plan | None = None) -> Rendered:
    the_plan = plan or plan_of(example)
    tree = OutputTree()
    render_terraform(the_plan, tree)
    return Rendered(example, the_plan, dict(tree))


def write(rendered: Rendered, root: Path) -> Path:
    for path, data in rendered.files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def plain(value: Any) -> Any:
    """python-hcl2's values without the quotes it keeps around strings and labels."""
    if isinstance(value, str):
        return check_terraform._unquote(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {check_terraform._unquote(k): plain(v) for k, v in value.items()
                if k != "__is_block__"}
    return value
