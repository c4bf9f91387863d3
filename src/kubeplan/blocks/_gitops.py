"""The GitOps target: collects every block's add-ons per cluster and renders the tree.

A block contributes through `kubeplan.blocks.<block>.gitops.addons(plan, cluster)`; a block
without a `gitops` module contributes nothing. The composition itself (ordering, Argo CD or
Flux wiring, the baseline) lives in `kubeplan.render.gitops`.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from kubeplan.blocks import BUILTIN
from kubeplan.model import Cluster, Plan
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.compose import render_cluster
from kubeplan.render.tree import OutputTree


def _module(block: str) -> ModuleType | None:
    name = f"kubeplan.blocks.{block}.gitops"
    try:
        return import_module(name)
    except ModuleNotFoundError as error:
        if error.name == name:
            return None
        raise


def block_addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    out: list[Addon] = []
    for block in BUILTIN:
        module = _module(block)
        if module is not None:
            out.extend(module.addons(plan, cluster))
    return out


def render_gitops(plan: Plan, tree: OutputTree) -> None:
    for cluster in plan.topology.clusters:
        render_cluster(plan, cluster, block_addons(plan, cluster), tree)
