"""The decide layer: rules, their registry and the engine that turns a spec into a plan."""

from kubeplan.decide.engine import make_plan
from kubeplan.decide.registry import DuplicateBlock, Registry
from kubeplan.decide.rules import Choice, Conflict, Context, Outcome, Rule

__all__ = [
    "Choice",
    "Conflict",
    "Context",
    "DuplicateBlock",
    "Outcome",
    "Registry",
    "Rule",
    "make_plan",
]
