"""The render layer: plan -> output tree. Renderers see only the frozen plan."""

from __future__ import annotations

from collections.abc import Callable

from kubeplan.model import Plan
from kubeplan.render.records import render_records
from kubeplan.render.serialise import to_json, to_yaml, to_yaml_stream
from kubeplan.render.tree import OutputTree
from kubeplan.render.writer import Changes, plan_changes, write_tree

Renderer = Callable[[Plan, OutputTree], None]


def render_plan_json(plan: Plan, tree: OutputTree) -> None:
    tree.add("plan.json", plan.to_json())


def render_decision_records(plan: Plan, tree: OutputTree) -> None:
    for path, text in render_records(plan).items():
        tree.add(path, text)


# The renderers `kubeplan build` runs, in order. Later layers (GitOps, Terraform, delivery,
# docs) append theirs here.
RENDERERS: tuple[Renderer, ...] = (render_plan_json, render_decision_records)


def render(plan: Plan, renderers: tuple[Renderer, ...] = RENDERERS,
           progress: Callable[[str], None] | None = None) -> OutputTree:
    tree = OutputTree()
    for renderer in renderers:
        if progress:
            progress(renderer.__name__.removeprefix("render_").replace("_", " "))
        renderer(plan, tree)
    return tree


__all__ = [
    "RENDERERS",
    "Changes",
    "OutputTree",
    "Renderer",
    "plan_changes",
    "render",
    "to_json",
    "to_yaml",
    "to_yaml_stream",
    "write_tree",
]
