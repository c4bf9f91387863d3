"""Rule cases as data: every `blocks/<block>/cases/*.yaml` is one test, no test code per case.

A case gives a spec fragment (merged over a minimal valid spec) and either
`expect` (choice, inputs that must be among the decision's inputs, optional components,
parameters subset, overridden, warning substring) or `error` (substrings of the message).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeplan.blocks import BUILTIN, builtin_rules
from kubeplan.decide import Registry, make_plan
from kubeplan.errors import SpecError
from kubeplan.spec import load_text

from .conftest import SRC, spec_with

CASES = sorted((SRC / "blocks").glob("*/cases/*.yaml"))


def _id(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.stem}"


def test_every_block_has_cases() -> None:
    with_cases = {p.parent.parent.name for p in CASES}
    assert set(BUILTIN) <= with_cases, f"blocks without rule cases: {set(BUILTIN) - with_cases}"


@pytest.mark.parametrize("case_file", CASES, ids=_id)
def test_rule_case(case_file: Path) -> None:
    case: dict[str, Any] = yaml.safe_load(case_file.read_text())
    block = case_file.parent.parent.name
    text = yaml.safe_dump(spec_with(case.get("spec", {})), sort_keys=False)
    registry = Registry(builtin_rules())
    assert set(case) <= {"spec", "expect", "error"}, f"unknown keys in {case_file}"
    if "error" in case:
        with pytest.raises(SpecError) as caught:
            make_plan(load_text(text), registry)
        message = caught.value.render()
        for needle in case["error"]["contains"]:
            assert needle in message, f"{needle!r} not in:\n{message}"
        return
    plan = make_plan(load_text(text), registry)
    decision = plan.decision(block)
    expect = case["expect"]
    assert decision.choice == expect["choice"], decision.rationale
    for path in expect.get("inputs", []):
        assert path in decision.inputs, f"{path} not among inputs {decision.inputs}"
    if "components" in expect:
        assert list(decision.components) == expect["components"]
    for key, value in expect.get("parameters", {}).items():
        assert decision.parameters.get(key) == value, f"parameter {key}: {decision.parameters}"
    if "overridden" in expect:
        assert decision.overridden is expect["overridden"]
    if "warning" in expect:
        assert any(expect["warning"] in w for w in plan.warnings), plan.warnings
    assert decision.rationale.endswith((".", ")")), "a rationale is a sentence"
    assert decision.alternatives, "every decision lists its alternatives"
