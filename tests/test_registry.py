"""The rule registry refuses duplicates and orders rules by their needs."""

from __future__ import annotations

import pytest

from kubeplan.blocks import BUILTIN, builtin_rules, default_registry
from kubeplan.decide import Choice, Context, DuplicateBlock, Outcome, Registry, Rule


class _Fake(Rule):
    block = "cdn"
    title = "fake"
    choices = (Choice("a", "a", "a"),)

    def decide(self, ctx: Context) -> Outcome:
        return Outcome("a", "always a.")


def test_duplicate_block_is_refused() -> None:
    registry = default_registry()
    with pytest.raises(DuplicateBlock, match="registered twice"):
        registry.add(_Fake())


def test_needs_come_first() -> None:
    registry = Registry(builtin_rules())
    order = [r.block for r in registry.ordered()]
    for rule in builtin_rules():
        for need in rule.needs:
            assert order.index(need) < order.index(rule.block)
    assert order == list(BUILTIN), "BUILTIN is already in dependency order"


def test_cycle_is_reported() -> None:
    class A(_Fake):
        block = "a"
        needs = ("b",)

    class B(_Fake):
        block = "b"
        needs = ("a",)

    with pytest.raises(ValueError, match="cycle"):
        list(Registry([A(), B()]).ordered())


def test_every_rule_has_honest_choices() -> None:
    for rule in builtin_rules():
        assert rule.title and len(rule.choices) >= 2, rule.block
        for choice in rule.choices:
            assert choice.summary and choice.tradeoff, (rule.block, choice.id)
        assert all(c.id != "ingress-nginx" for c in rule.choices), "ingress-nginx is retired"
