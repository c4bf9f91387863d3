"""Blocks: one folder per block of the reference architecture (a vertical slice).

Each folder holds the block's rule (`rule.py`: choices, decision, products per provider) and
its rule cases (`cases/*.yaml`, collected by the tests). Blocks never import each other; a rule
reads earlier decisions through its `needs`. The order below is the order of the plan.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points

from kubeplan.decide import Registry, Rule

BUILTIN: tuple[str, ...] = (
    "topology",
    "cluster",
    "network",
    "admin_access",
    "dns",
    "cdn",
    "load_balancer",
    "ingress",
    "service_mesh",
    "network_policy",
    "policy",
    "secrets",
    "metrics",
    "logging",
    "tracing",
    "backup",
    "storage",
    "registry",
    "ci",
    "gitops",
    "preview",
)

ENTRY_POINT_GROUP = "kubeplan.blocks"


def builtin_rules() -> list[Rule]:
    return [import_module(f"kubeplan.blocks.{name}.rule").RULE for name in BUILTIN]


def default_registry() -> Registry:
    """Built-in rules plus third-party rules registered under the `kubeplan.blocks` group."""
    registry = Registry(builtin_rules())
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        registry.add(ep.load())
    return registry
