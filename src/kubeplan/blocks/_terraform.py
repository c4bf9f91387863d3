"""The Terraform target's top-level renderer: collects every block's Terraform contributions
(`blocks/<block>/terraform.py`, a `contribute(env)` function) and hands them to the framework
in `render/terraform`, which writes `terraform/<environment>/<layer>/` (cloud) or `onprem/`.
"""

from __future__ import annotations

from importlib import import_module

from kubeplan.model import Plan
from kubeplan.render.terraform import render
from kubeplan.render.terraform.model import Contributor
from kubeplan.render.tree import OutputTree

# Blocks with a Terraform (or on-prem) contribution, in the order their files are written.
BLOCKS: tuple[str, ...] = (
    "network",
    "admin_access",
    "cluster",
    "storage",
    "dns",
    "cdn",
    "load_balancer",
    "ingress",
    "registry",
    "ci",
    "secrets",
    "backup",
    "logging",
    "tracing",
    "metrics",
)


def contributors() -> tuple[Contributor, ...]:
    return tuple(import_module(f"kubeplan.blocks.{name}.terraform").contribute
                 for name in BLOCKS)


def render_terraform(plan: Plan, tree: OutputTree) -> None:
    render(plan, tree, contributors())
