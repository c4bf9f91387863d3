"""The `kubeplan` command line: thin over `kubeplan.app`, errors mapped to exit codes once."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kubeplan import __version__, app
from kubeplan.errors import (
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_USAGE,
    KubeplanError,
    UsageError,
    exit_code_for,
)
from kubeplan.model import Plan
from kubeplan.spec import json_schema

cli = typer.Typer(
    name="kubeplan",
    help="Architect a Kubernetes platform from your constraints and render it as proven code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

SpecArg = Annotated[
    Path | None,
    typer.Argument(help="The platform spec (default: ./platform.yaml, else the built-in example).",
                   show_default=False),
]
ExampleOpt = Annotated[
    str | None,
    typer.Option("--example", help="Use a built-in example instead of a file.",
                 show_default=False),
]


def _note(text: str) -> None:
    err.print(f"[dim]{escape(text)}[/dim]", highlight=False)


def _warn(plan: Plan) -> None:
    for warning in plan.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)


def _load_and_plan(spec: Path | None, example: str | None) -> Plan:
    source = app.load_spec(spec, example)
    if source.builtin:
        _note(f"using the {source.description}")
    return app.plan(source.loaded)


@cli.command()
def plan(spec: SpecArg = None, example: ExampleOpt = None,
         as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False
         ) -> None:
    """Decide every block and print the plan (block, choice, components, why)."""
    the_plan = _load_and_plan(spec, example)
    if as_json:
        sys.stdout.write(the_plan.to_json())
        _warn(the_plan)
        return
    table = Table(title=f"kubeplan plan: {the_plan.metadata.name} on {the_plan.metadata.provider}",
                  show_lines=True)
    for column in ("block", "choice", "components", "why"):
        table.add_column(column, overflow="fold")
    for d in the_plan.decisions:
        choice = d.choice + (" (override)" if d.overridden else "")
        table.add_row(escape(d.block), escape(choice), escape("\n".join(d.components)),
                      escape(d.rationale))
    out.print(table)
    clusters = ", ".join(f"{c.name} ({c.role})" for c in the_plan.topology.clusters)
    out.print(f"clusters: {clusters}", highlight=False, markup=False)
    a = the_plan.availability
    out.print(f"availability: estimated {a.estimate:.3f}% for a target of {a.target}% "
              f"(error budget {a.error_budget_minutes} min/month)", highlight=False, markup=False)
    _warn(the_plan)


@cli.command()
def explain(block: Annotated[str, typer.Argument(help="A block id, e.g. cdn.")],
            spec: SpecArg = None, example: ExampleOpt = None) -> None:
    """Explain one block's decision: rationale, inputs, alternatives and trade-offs."""
    the_plan = _load_and_plan(spec, example)
    blocks = [d.block for d in the_plan.decisions]
    if block not in blocks:
        from kubeplan.spec import did_you_mean

        guess = did_you_mean(block, blocks)
        raise UsageError(f"unknown block {block!r}" + (f"; did you mean {guess!r}?" if guess
                         else "") + f"\nblocks: {', '.join(blocks)}")
    d = the_plan.decision(block)
    out.print(f"[bold]{escape(d.title)}[/bold] ({d.block}): "
              f"[bold green]{escape(d.choice)}[/bold green]"
              + (" [yellow](overridden)[/yellow]" if d.overridden else ""))
    out.print(d.rationale, highlight=False, markup=False)
    if d.components:
        out.print("\n[bold]components[/bold]")
        for c in d.components:
            out.print(f"  - {c}", highlight=False, markup=False)
    if d.parameters:
        out.print("\n[bold]parameters[/bold]")
        for k, v in sorted(d.parameters.items()):
            out.print(f"  {k}: {v}", highlight=False, markup=False)
    out.print("\n[bold]inputs[/bold]")
    for path in d.inputs:
        out.print(f"  {path} = {json.dumps(the_plan.input_value(path))}", highlight=False, markup=False)
    out.print("\n[bold]consequences[/bold]")
    out.print(f"  {d.consequences}", highlight=False, markup=False)
    out.print("\n[bold]alternatives[/bold]")
    for alt in d.alternatives:
        out.print(f"  {alt.choice}: {alt.tradeoff}", highlight=False, markup=False)
    _effects(the_plan, app.alternatives(app.load_spec(spec, example).loaded, block))
    out.print(f"\nto change it: set spec.overrides.{d.block} in platform.yaml", highlight=False, markup=False)


def _effects(the_plan: Plan, outcomes: list[app.AlternativeOutcome]) -> None:
    """Each alternative re-planned: monthly cost (rough, list prices) and availability."""
    cost = the_plan.cost
    out.print(f"\n[bold]effect of each alternative[/bold] (re-planned; rough monthly estimate at "
              f"list prices, {cost.currency}; see docs/COST.md)")
    now = cost.by("block")
    for outcome in outcomes:
        if outcome.plan is None:
            out.print(f"  {outcome.choice}: not possible for this spec: {outcome.problem}",
                      highlight=False, markup=False)
            continue
        other = outcome.plan.cost
        then = other.by("block")
        deltas = sorted(((b, then.get(b, 0.0) - now.get(b, 0.0)) for b in {*now, *then}),
                        key=lambda kv: (-abs(kv[1]), kv[0]))
        moved = ", ".join(f"{b} {v:+,.2f}" for b, v in deltas[:4] if abs(v) >= 0.01)
        known = {(line.block, line.item) for line in cost.unpriced()}
        unpriced = sorted({line.item for line in other.unpriced()
                           if (line.block, line.item) not in known})
        a, b = the_plan.availability.estimate, outcome.plan.availability.estimate
        nodes = [sum(p.nodes + p.control_plane_nodes for p in c.node_pools) for c in (cost, other)]
        out.print(f"  {outcome.choice}: {cost.total:,.2f} -> {other.total:,.2f} a month "
                  f"({other.total - cost.total:+,.2f}); availability {a:.3f}% -> {b:.3f}%"
                  + (f"; nodes {nodes[0]} -> {nodes[1]}" if nodes[0] != nodes[1] else "")
                  + (f"\n      by block: {moved}" if moved else "")
                  + (f"\n      plus, without a price: {'; '.join(unpriced)}" if unpriced else ""),
                  highlight=False, markup=False)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of platform.yaml (for yaml-language-server and editors)."""
    sys.stdout.write(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")


@cli.command()
def build(spec: SpecArg = None, example: ExampleOpt = None,
          output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")]
          = Path("platform"),
          force: Annotated[bool, typer.Option("--force", help="Overwrite files you edited.")]
          = False,
          dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would change.")]
          = False) -> None:
    """Render the plan into an output folder (plan.json, decision records, ...)."""
    the_plan = _load_and_plan(spec, example)
    _warn(the_plan)
    with err.status("rendering") as status:
        tree = app.build_tree(the_plan, lambda step: status.update(f"rendering: {step}"))
    if dry_run:
        changes = app.preview(tree, output)
        for label, paths in (("add", changes.added), ("change", changes.changed),
                             ("remove", changes.removed)):
            for path in paths:
                flag = " (edited by you)" if path in changes.edited else ""
                out.print(f"{label:6} {path}{flag}", highlight=False, markup=False)
        out.print(f"{changes.touched} file(s) would change, {len(changes.unchanged)} unchanged "
                  f"in {output}", highlight=False, markup=False)
        return
    with err.status(f"writing {len(tree)} files to {output}"):
        changes = app.build(the_plan, output, force=force)
    out.print(f"built {the_plan.metadata.name} into {output}: {len(changes.added)} added, "
              f"{len(changes.changed)} changed, {len(changes.removed)} removed, "
              f"{len(changes.unchanged)} unchanged", highlight=False, markup=False)


@cli.command("check")
def check_cmd(folder: Annotated[Path, typer.Argument(help="A built (or edited) output folder.")]
              = Path("platform"),
              upstream: Annotated[Path | None, typer.Option(
                  "--upstream", help="Upstream reference data (default: the pull cache).",
                  show_default=False)] = None) -> None:
    """Validate every artifact in a built tree against the real upstream interfaces."""
    with err.status("checking") as status:
        findings = app.check(folder, upstream, lambda name: status.update(f"checking: {name}"))
    for finding in findings:
        out.print(finding.render(), highlight=False, markup=False)
    if findings:
        out.print(f"{len(findings)} finding(s) in {folder}", highlight=False, markup=False)
        raise typer.Exit(EXIT_FINDINGS)
    out.print(f"{folder}: no findings", highlight=False, markup=False)


schemas = typer.Typer(help="The pinned upstream reference data `kubeplan check` validates "
                           "against.", no_args_is_help=True)
cli.add_typer(schemas, name="schemas")


@schemas.command("pull")
def schemas_pull(mirror: Annotated[str | None, typer.Option(
                     "--mirror", help="Fetch <URL>/<path> from a copy of the upstream root "
                                      "instead of GitHub.", show_default=False)] = None,
                 dest: Annotated[Path | None, typer.Option(
                     "--dest", help="Where to put the files (default: the cache kubeplan check "
                                    "reads).", show_default=False)] = None) -> None:
    """Download the pinned upstream files (CRDs, chart values and schemas), verify their
    checksums, and keep them for offline use; files already present are not fetched again."""
    from kubeplan.check.pull import pull
    from kubeplan.check.upstream import cache_dir

    target = dest or cache_dir()
    with err.status("pulling upstream reference data") as status:
        result = pull(target, mirror, lambda path: status.update(f"pulling {path}"))
    out.print(f"{target}: {len(result.fetched)} fetched, {len(result.present)} already "
              f"present, {len(result.skipped)} without a public source (use --mirror)",
              highlight=False, markup=False)


QUESTIONS: list[tuple[str, str, str]] = [
    ("name", "Platform name (DNS label)", "shop"),
    ("provider", "Provider (gcp, aws, azure, onprem)", "gcp"),
    ("regions", "Regions, comma-separated, by preference", ""),
    ("domain", "Public domain", "shop.example.com"),
    ("environments", "Environments, comma-separated", "dev,staging,prod"),
    ("target", "Availability target in percent", "99.9"),
    ("peakRps", "Peak requests per second", "500"),
    ("staticShare", "Share of static content (0..1)", "0.3"),
    ("audience", "Audience (local, regional, global)", "regional"),
    ("posture", "Security posture (baseline, hardened, regulated)", "hardened"),
    ("services", "Number of services", "10"),
]
DEFAULT_REGION = {"gcp": "europe-west1", "aws": "eu-west-1", "azure": "westeurope",
                  "onprem": "site-a"}


@cli.command()
def init(path: Annotated[Path, typer.Argument(help="Where to write the spec.")]
         = Path("platform.yaml"),
         yes: Annotated[bool, typer.Option("--yes", "-y", help="Take every default.")] = False,
         force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")]
         = False) -> None:
    """Write a starting platform.yaml by asking a few questions."""
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; rerun with --force to overwrite it")
    answers: dict[str, str] = {}
    for key, question, fallback in QUESTIONS:
        default = fallback
        if key == "regions":
            default = DEFAULT_REGION.get(answers.get("provider", "gcp"), "site-a")
        answers[key] = default if yes else str(typer.prompt(question, default=default))
    document = _document_from(answers)
    # Validate before writing, so init never leaves an invalid file behind.
    from kubeplan.render import to_yaml
    from kubeplan.spec import load_text

    text = ("# yaml-language-server: $schema=platform.schema.json\n"
            "# kubeplan platform spec: `kubeplan plan` explains the decisions it leads to.\n"
            + to_yaml(document))
    load_text(text, str(path))
    path.write_text(text, "utf-8")
    schema_file = path.with_name("platform.schema.json")
    if not schema_file.exists() or force:
        schema_file.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    out.print(f"wrote {path} (and {schema_file.name} for editors); next: kubeplan plan {path}",
              highlight=False, markup=False)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _number(text: str, key: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{key}: {text!r} is not a number") from None


def _document_from(a: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "kubeplan.dev/v1alpha1",
        "kind": "Platform",
        "metadata": {"name": a["name"]},
        "spec": {
            "provider": a["provider"],
            "regions": _split(a["regions"]),
            "domain": a["domain"],
            "environments": _split(a["environments"]),
            "availability": {"target": _number(a["target"], "target"), "rpo": "24h",
                             "rto": "4h"},
            "traffic": {"peakRps": int(_number(a["peakRps"], "peakRps")),
                        "staticShare": _number(a["staticShare"], "staticShare"),
                        "audience": a["audience"], "ddosProtection": False},
            "security": {"posture": a["posture"], "adminAccess": "auto", "mtls": "auto"},
            "operations": {"kubernetes": "auto", "dedicatedPlatformTeam": False},
            "workloads": {"services": int(_number(a["services"], "services")),
                          "stateful": False, "sharedFilesystem": False},
            "observability": {"retention": "15d", "logSearch": "labels", "tracing": "auto",
                              "alertReceivers": []},
            "delivery": {"ci": "github-actions", "gitops": "argocd", "registry": "auto",
                         "previewEnvironments": False},
            "overrides": {},
        },
    }


@cli.command()
def version() -> None:
    """Print the kubeplan version."""
    out.print(__version__)


def _debug_log() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kubeplan"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        base = Path(tempfile.gettempdir())
    return base / "debug.log"


def main(argv: list[str] | None = None) -> int:
    """Entry point: every KubeplanError becomes a message and its exit code; bugs go to a log."""
    try:
        # Without standalone mode, click returns (not raises) the code of a `typer.Exit`.
        result = cli(args=argv, standalone_mode=False, prog_name="kubeplan")
    except KubeplanError as error:
        err.print(f"[red]error:[/red] {escape(error.render())}", highlight=False)
        code = exit_code_for(error)
    except typer.Exit as done:
        code = done.exit_code
    except typer.Abort:
        err.print("aborted")
        code = 130
    except typer.TyperException as error:  # command-line usage errors (bad option, ...)
        show = getattr(error, "show", None)
        if callable(show):
            show()
        code = int(getattr(error, "exit_code", EXIT_USAGE))
    except Exception as error:  # a bug: keep the traceback out of the user's terminal
        log = _debug_log()
        logging.basicConfig(filename=log, level=logging.DEBUG)
        logging.getLogger("kubeplan").error("internal error\n%s", traceback.format_exc())
        err.print(f"[red]internal error:[/red] {escape(f'{type(error).__name__}: {error}')}\n"
                  f"this is a bug in kubeplan; the details are in {escape(str(log))}",
                  highlight=False)
        code = EXIT_INTERNAL
    else:
        code = result if isinstance(result, int) else 0
    if argv is None:
        sys.exit(code)
    return code


__all__ = ["cli", "main"]
