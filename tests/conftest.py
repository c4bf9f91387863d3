"""Shared test helpers: a minimal valid spec, deep merge, and paths."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "kubeplan"
EXAMPLES = SRC / "examples"
SHARED_UPSTREAM = ROOT.parent / "shared" / "upstream"

BASE_SPEC: dict[str, Any] = {
    "apiVersion": "kubeplan.dev/v1alpha1",
    "kind": "Platform",
    "metadata": {"name": "case"},
    "spec": {
        "provider": "gcp",
        "regions": ["europe-west1"],
        "domain": "case.example.com",
    },
}


def merge(base: Any, fragment: Any) -> Any:
    """Deep-merge mappings; lists and scalars in `fragment` replace those in `base`."""
    if isinstance(base, dict) and isinstance(fragment, dict):
        out = copy.deepcopy(base)
        for key, value in fragment.items():
            out[key] = merge(out[key], value) if key in out else copy.deepcopy(value)
        return out
    return copy.deepcopy(fragment)


def spec_with(fragment: dict[str, Any]) -> dict[str, Any]:
    return merge(BASE_SPEC, {"spec": fragment})


@pytest.fixture
def base_spec() -> dict[str, Any]:
    return copy.deepcopy(BASE_SPEC)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/ from the current output instead of comparing")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))
