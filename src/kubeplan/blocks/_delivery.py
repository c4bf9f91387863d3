"""The delivery target's renderer: collects the registry and preview blocks' contributions and
hands them to the ci block, which writes the pipelines (contract: `kubeplan.render.delivery`).
"""

from __future__ import annotations

from kubeplan.blocks.ci import delivery as ci
from kubeplan.blocks.preview import delivery as preview
from kubeplan.blocks.registry import delivery as registry
from kubeplan.model import Plan
from kubeplan.render import OutputTree
from kubeplan.render.delivery import DeliveryInputs


def render_delivery(plan: Plan, tree: OutputTree) -> None:
    inputs = DeliveryInputs(registry=registry.access(plan), preview=preview.preview(plan))
    for path, text in sorted(ci.files(plan, inputs).items()):
        tree.add(path, text)
