"""The decision engine: runs every rule in order, applies overrides, composes the plan."""

from __future__ import annotations

from typing import Any

from kubeplan.decide.availability import estimate
from kubeplan.decide.cost import estimate_cost
from kubeplan.decide.registry import Registry
from kubeplan.decide.rules import Context, Rule
from kubeplan.errors import Cause, DecisionConflict, Problem, SpecError
from kubeplan.model import Alternative, Decision, Metadata, Plan, Topology
from kubeplan.spec import LoadedSpec, Platform, did_you_mean


def spec_data(platform: Platform) -> dict[str, Any]:
    """The spec as plain data with YAML names: what rules read and the plan records."""
    data: dict[str, Any] = platform.spec.model_dump(mode="json", by_alias=True)
    return data


def _check_overrides(loaded: LoadedSpec, registry: Registry) -> None:
    problems: list[Problem] = []
    overrides = loaded.platform.spec.overrides
    for block, choice in sorted(overrides.items()):
        path = ("spec", "overrides", block)
        if block not in registry:
            guess = did_you_mean(block, registry.blocks())
            problems.append(Problem(
                f"unknown block {block!r}",
                path,
                (f"did you mean {guess!r}? " if guess else "")
                + f"blocks: {', '.join(sorted(registry.blocks()))}",
                loaded.source.locate(path),
            ))
            continue
        ids = registry[block].choice_ids()
        if choice not in ids:
            guess = did_you_mean(choice, ids)
            problems.append(Problem(
                f"{choice!r} is not a choice of block {block!r}; choose one of: {', '.join(ids)}",
                path,
                f"did you mean {guess!r}?" if guess else None,
                loaded.source.locate(path),
            ))
    if problems:
        raise SpecError(problems)


def _decide_one(rule: Rule, data: dict[str, Any], name: str,
                decisions: dict[str, Decision], loaded: LoadedSpec) -> Decision:
    ctx = Context(data, name, decisions)
    try:
        outcome = rule.decide(ctx)
    except SpecError as rejected:
        # A rule may reject a combination of explicit fields itself; it knows the field paths,
        # the engine knows where they sit in the user's file.
        for problem in rejected.problems:
            if problem.location is None:
                problem.location = loaded.source.locate(problem.path)
        raise
    if outcome.choice not in rule.choice_ids():
        raise ValueError(f"rule {rule.block} returned unknown choice {outcome.choice!r}")
    override = loaded.platform.spec.overrides.get(rule.block)
    choice, rationale, parameters = outcome.choice, outcome.rationale, dict(outcome.parameters)
    overridden = False
    if override is not None:
        conflict = rule.conflict(override, ctx)
        if conflict is not None:
            error = DecisionConflict(
                conflict.message,
                [Cause(rule.block, ("spec", "overrides", rule.block)),
                 Cause(rule.block, conflict.other)],
                conflict.hint,
            )
            for problem in error.problems:
                problem.location = loaded.source.locate(("spec", "overrides", rule.block))
            raise error
        if override != outcome.choice:
            overridden = True
            choice = override
            parameters = dict(rule.parameters(override, ctx))
            rationale = (
                f"Set by spec.overrides.{rule.block}; without it kubeplan would choose "
                f"{outcome.choice!r}: {outcome.rationale}"
            )
        ctx.read.append(f"spec.overrides.{rule.block}")
    alternatives = tuple(
        Alternative(choice=c.id, tradeoff=c.tradeoff) for c in rule.choices if c.id != choice
    )
    # Before the decision is built: what these read belongs in its inputs.
    components = rule.components(choice, ctx)
    warnings = tuple(rule.warnings(choice, ctx))
    return Decision(
        block=rule.block,
        title=rule.title,
        choice=choice,
        components=components,
        rationale=rationale,
        inputs=tuple(ctx.read),
        alternatives=alternatives,
        overridden=overridden,
        consequences=rule.choice_named(choice).tradeoff,
        parameters=parameters,
        warnings=warnings,
    )


def make_plan(loaded: LoadedSpec, registry: Registry) -> Plan:
    """Spec -> Plan. Raises SpecError/DecisionConflict with locations in the user's file."""
    platform = loaded.platform
    _check_overrides(loaded, registry)
    data = spec_data(platform)
    decisions: dict[str, Decision] = {}
    for rule in registry.ordered():
        decisions[rule.block] = _decide_one(rule, data, platform.metadata.name, decisions, loaded)
    topology_decision = decisions.get("topology")
    if topology_decision is None:
        raise ValueError("the registry has no topology rule")
    topology = topology_of(topology_decision, platform)
    availability = estimate(decisions, topology, platform.spec.provider,
                            platform.spec.availability.target)
    warnings = [w for d in decisions.values() for w in d.warnings]
    if availability.estimate < availability.target:
        warnings.append(
            f"spec.availability.target {availability.target}% is above what this design can "
            f"reach: the published SLAs on the request path compose to about "
            f"{availability.estimate:.3f}%. "
            + (" ".join(availability.improvements) if availability.improvements else "")
        )
    return Plan(
        metadata=Metadata(
            name=platform.metadata.name,
            provider=str(platform.spec.provider),
            domain=platform.spec.domain,
            environments=platform.spec.environments,
            kubernetes_version=platform.spec.kubernetes_version,
        ),
        decisions=tuple(decisions.values()),
        topology=topology,
        availability=availability,
        cost=estimate_cost(decisions, topology, data, str(platform.spec.provider)),
        warnings=tuple(warnings),
        inputs=data,
    )


def topology_of(decision: Decision, platform: Platform) -> Topology:
    """Clusters per environment from the topology decision (its parameters are the data)."""
    from kubeplan.model import Cluster

    spec = platform.spec
    regions = spec.regions
    prod_like = str(decision.parameters["production"])
    clusters: list[Cluster] = []
    for env in spec.environments:
        if env == prod_like and decision.choice != "single-region":
            standby = decision.choice == "multi-region-active-passive"
            for i, region in enumerate(regions):
                role = "primary" if i == 0 else ("standby" if standby else "active")
                clusters.append(Cluster(name=cluster_name(env, region, i), region=region,
                                        environment=env, role=role))
        else:
            clusters.append(Cluster(name=cluster_name(env, regions[0], 0), region=regions[0],
                                    environment=env))
    used = tuple(r for r in regions if any(c.region == r for c in clusters))
    return Topology(regions=used, clusters=tuple(clusters), production=prod_like)


# GKE caps cluster names at 40 characters, the tightest of the providers.
MAX_CLUSTER_NAME = 40


def cluster_name(environment: str, region: str, index: int) -> str:
    name = f"{environment}-{region}"
    if len(name) <= MAX_CLUSTER_NAME:
        return name
    return f"{environment[:MAX_CLUSTER_NAME - 4].rstrip('-')}-r{index + 1}"
