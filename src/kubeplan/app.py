"""The library's front door: what the CLI (or any caller) does, without terminal concerns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kubeplan.blocks import default_registry
from kubeplan.decide import Registry, make_plan
from kubeplan.errors import UsageError
from kubeplan.model import Plan
from kubeplan.render import Changes, OutputTree, plan_changes, render, write_tree
from kubeplan.spec import LoadedSpec, load_file, load_text

DEFAULT_SPEC = "platform.yaml"
BUILTIN_EXAMPLE = "shop"


def example_names() -> list[str]:
    folder = resources.files("kubeplan").joinpath("examples")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir()
                  if p.name.endswith(".yaml"))


def example_text(name: str) -> str:
    if name not in example_names():
        raise UsageError(f"no built-in example {name!r}; examples: {', '.join(example_names())}")
    return resources.files("kubeplan").joinpath(f"examples/{name}.yaml").read_text("utf-8")


@dataclass(frozen=True)
class SpecSource:
    loaded: LoadedSpec
    description: str  # what was read, for the user
    builtin: bool


def load_spec(spec: Path | None, example: str | None = None) -> SpecSource:
    """The spec named, else ./platform.yaml, else the built-in example (and say which)."""
    if example is not None:
        text = example_text(example)
        return SpecSource(load_text(text, f"<example {example}>"), f"built-in example {example!r}",
                          True)
    if spec is not None:
        return SpecSource(load_file(spec), str(spec), False)
    if Path(DEFAULT_SPEC).is_file():
        return SpecSource(load_file(Path(DEFAULT_SPEC)), DEFAULT_SPEC, False)
    text = example_text(BUILTIN_EXAMPLE)
    return SpecSource(load_text(text, f"<example {BUILTIN_EXAMPLE}>"),
                      f"built-in example {BUILTIN_EXAMPLE!r} (no {DEFAULT_SPEC} here)", True)


def plan(loaded: LoadedSpec, registry: Registry | None = None) -> Plan:
    return make_plan(loaded, registry or default_registry())


def build_tree(the_plan: Plan) -> OutputTree:
    return render(the_plan)


def preview(tree: OutputTree, out: Path) -> Changes:
    return plan_changes(tree, out)


def build(the_plan: Plan, out: Path, *, force: bool = False,
          progress: Callable[[str], None] | None = None) -> Changes:
    return write_tree(build_tree(the_plan), out, force=force, progress=progress)
