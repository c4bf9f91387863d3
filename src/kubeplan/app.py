"""The library's front door: what the CLI (or any caller) does, without terminal concerns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from kubeplan.blocks import default_registry
from kubeplan.blocks._delivery import render_delivery
from kubeplan.blocks._gitops import render_gitops
from kubeplan.blocks._terraform import render_terraform
from kubeplan.check import run_checks
from kubeplan.check.upstream import upstream_root
from kubeplan.decide import Registry, make_plan
from kubeplan.errors import Finding, KubeplanError, SpecError, UsageError
from kubeplan.model import Plan
from kubeplan.render import RENDERERS, Changes, OutputTree, Renderer, plan_changes, render, write_tree
from kubeplan.render.docs import render_docs
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


# Renderers per target (GitOps, Terraform, delivery, docs), composed after the core ones
# (plan.json, decision records). Each target's renderer reads block contributions itself.
# Docs stay last: the runbook and the report link to the files the other targets wrote.
TARGET_RENDERERS: tuple[Renderer, ...] = (render_gitops, render_delivery, render_terraform,
                                           render_docs)


@dataclass(frozen=True)
class AlternativeOutcome:
    """The plan with one alternative of a block forced, or why it cannot hold for this spec."""

    choice: str
    plan: Plan | None
    problem: str = ""


def alternatives(loaded: LoadedSpec, block: str,
                 registry: Registry | None = None) -> list[AlternativeOutcome]:
    """Re-plan with each alternative of `block` set in spec.overrides (for `explain`)."""
    base = plan(loaded, registry)
    platform = loaded.platform
    out: list[AlternativeOutcome] = []
    for alternative in base.decision(block).alternatives:
        overrides = {**platform.spec.overrides, block: alternative.choice}
        spec = platform.spec.model_copy(update={"overrides": overrides})
        variant = replace(loaded, platform=platform.model_copy(update={"spec": spec}))
        try:
            out.append(AlternativeOutcome(alternative.choice, plan(variant, registry)))
        except KubeplanError as error:
            why = error.problems[0].message if isinstance(error, SpecError) else error.message
            out.append(AlternativeOutcome(alternative.choice, None, why))
    return out


def build_tree(the_plan: Plan, progress: Callable[[str], None] | None = None) -> OutputTree:
    return render(the_plan, (*RENDERERS, *TARGET_RENDERERS), progress)


def check(root: Path, upstream: Path | None = None,
          progress: Callable[[str], None] | None = None) -> list[Finding]:
    """Validate a built or hand-edited tree against the upstream interfaces."""
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder; build one with `kubeplan build -o {root}`")
    return run_checks(root, upstream_root(upstream), progress)


def preview(tree: OutputTree, out: Path) -> Changes:
    return plan_changes(tree, out)


def build(the_plan: Plan, out: Path, *, force: bool = False,
          progress: Callable[[str], None] | None = None) -> Changes:
    return write_tree(build_tree(the_plan), out, force=force, progress=progress)
