"""The contribution interface between blocks and the Terraform framework.

A block's `terraform.py` receives one `TerraformEnv` per environment and returns
`Contribution`s: the blocks (module calls, resources, data sources) it adds to one layer, the
variables and outputs that go with them, and the values the GitOps tree reads after apply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from kubeplan import catalogue
from kubeplan.errors import RenderError
from kubeplan.model import Cluster, Decision, Plan
from kubeplan.render import naming
from kubeplan.render.naming import TERRAFORM_LAYERS
from kubeplan.render.terraform.hcl import BLANK, Attribute, Block, Comment, Expr, Item, Value, body

# Where on-prem equivalents go (kubeadm, systemd units, zone files): not a Terraform layer.
ONPREM = "onprem"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


@dataclass(frozen=True)
class Validation:
    condition: str  # an HCL expression over var.<name>
    message: str


@dataclass(frozen=True)
class Variable:
    """An input the operator supplies (no default) or may change (with a default)."""

    name: str
    type: str
    description: str
    default: Value | _Missing = MISSING
    validations: tuple[Validation, ...] = ()
    sensitive: bool = False

    @property
    def required(self) -> bool:
        """No default: the operator must supply it."""
        return isinstance(self.default, _Missing)

    def block(self) -> Block:
        items: list[Item] = [Attribute("description", self.description),
                             Attribute("type", Expr(self.type))]
        if not isinstance(self.default, _Missing):
            items.append(Attribute("default", self.default))
        if self.sensitive:
            items.append(Attribute("sensitive", True))
        for check in self.validations:
            items.append(Block("validation", (), body({
                "condition": Expr(check.condition), "error_message": check.message})))
        return Block("variable", (self.name,), tuple(items))


@dataclass(frozen=True)
class Output:
    name: str
    value: Value
    description: str
    sensitive: bool = False

    def block(self) -> Block:
        items: dict[str, Value] = {"description": self.description, "value": self.value}
        if self.sensitive:
            items["sensitive"] = True
        return Block("output", (self.name,), body(items))


@dataclass(frozen=True)
class Contribution:
    """What one block adds to one layer of one environment.

    `file` names the .tf file (the block's name by default), `gitops` maps keys the GitOps tree
    reads (`velero.bucket`, `external-dns.identity`) to expressions; `files` are non-Terraform
    files (on-prem), keyed by path below the layer folder.
    """

    layer: str
    file: str
    blocks: tuple[Block, ...] = ()
    variables: tuple[Variable, ...] = ()
    outputs: tuple[Output, ...] = ()
    locals: Mapping[str, Value] = field(default_factory=dict)
    gitops: Mapping[str, Value] = field(default_factory=dict)
    gcp_apis: frozenset[str] = frozenset()
    files: Mapping[str, str] = field(default_factory=dict)
    # Runbook lines: manual steps, and what is deliberately not rendered and why.
    notes: tuple[str, ...] = ()
    # The GitOps tree's `${VARIABLE}`s this contribution fills (render/gitops/outputs.py): they
    # go into Flux's `platform-outputs` ConfigMap or Argo CD's cluster Secret annotations.
    platform: Mapping[str, Value] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.layer not in (*TERRAFORM_LAYERS, ONPREM):
            raise RenderError(f"contribution {self.file}: unknown layer {self.layer!r}")


@dataclass(frozen=True)
class TerraformEnv:
    """One environment of the plan, as the Terraform renderers see it."""

    plan: Plan
    environment: str

    @property
    def provider(self) -> str:
        return self.plan.metadata.provider

    @property
    def name(self) -> str:
        return self.plan.metadata.name

    @property
    def domain(self) -> str:
        return self.plan.metadata.domain

    @cached_property
    def clusters(self) -> tuple[Cluster, ...]:
        return self.plan.topology.clusters_in(self.environment)

    @cached_property
    def regions(self) -> tuple[str, ...]:
        """Regions with a cluster of this environment, in spec.regions order."""
        used = {c.region for c in self.clusters}
        return tuple(r for r in self.plan.topology.regions if r in used)

    @property
    def primary_region(self) -> str:
        return self.regions[0]

    @property
    def registry_regions(self) -> list[str]:
        """Where the environment keeps images: its primary region, plus the registry decision's
        `replicateTo` when that is one of the environment's regions. The registry layer creates
        repositories there and the CI trust grants pushes there, so both read this one rule."""
        second = str(self.param("registry", "replicateTo", ""))
        out = [self.primary_region]
        if second and second in self.regions and second != self.primary_region:
            out.append(second)
        return out

    @property
    def production(self) -> bool:
        return self.environment == self.plan.topology.production

    @property
    def prefix(self) -> str:
        """`<platform>-<environment>`: the stem of every cloud resource name."""
        return f"{self.name}-{self.environment}"

    @property
    def zone(self) -> str:
        """The environment's public DNS zone: the platform domain in production, a delegated
        `<environment>.<domain>` elsewhere, so each environment's project owns its own zone."""
        return self.domain if self.production else f"{self.environment}.{self.domain}"

    @property
    def labels(self) -> dict[str, str]:
        return {"platform": self.name, "environment": self.environment,
                "managed-by": "kubeplan"}

    def cluster_name(self, cluster: Cluster) -> str:
        """The provider's name of a cluster (`naming.cluster_resource_name`, which the GitOps
        tree uses too: the AWS Load Balancer Controller's clusterName, Cilium's API host)."""
        return naming.cluster_resource_name(self.plan, cluster.name)

    def decision(self, block: str) -> Decision:
        return self.plan.decision(block)

    def choice(self, block: str) -> str:
        return self.plan.choice(block)

    def param(self, block: str, key: str, default: Value = None) -> Value:
        return self.plan.decision(block).parameters.get(key, default)

    def network(self, kind: str, region: str) -> str:
        """A CIDR of the network decision's subnet plan: kind is node/service/edge/pod/region."""
        return str(self.plan.decision("network").param(f"{kind}Cidr.{region}"))

    def remote(self, layer: str, output: str) -> Expr:
        """An output of an earlier layer of this environment (read through its state)."""
        return Expr(f"data.terraform_remote_state.{layer}.outputs.{output}")

    def remote_env(self, environment: str, layer: str, output: str) -> Expr:
        """An output of a layer of another environment (applied before this one)."""
        return Expr(f"data.terraform_remote_state.{slug(environment)}_{layer}.outputs.{output}")

    def module(self, name: str, key: str, args: Mapping[str, Value | Block | Sequence[Block]],
               *, comments: Sequence[str] = (), meta: Mapping[str, Value] | None = None) -> Block:
        return module_block(name, key, args, comments=comments, meta=meta)


Contributor = Callable[[TerraformEnv], list[Contribution]]


def module_block(name: str, key: str, args: Mapping[str, Value | Block | Sequence[Block]],
                 *, comments: Sequence[str] = (), meta: Mapping[str, Value] | None = None
                 ) -> Block:
    """A call of the catalogue's module `key`, at its release's commit, with the release named
    in a comment; meta-arguments (for_each, providers) come right after the source."""
    pinned = catalogue.module(key)
    release = f"{pinned['source']} {pinned['version']}"
    head: list[Item] = [Attribute("source", module_source(key))]
    head += [Attribute(k, v) for k, v in (meta or {}).items()]
    return Block("module", (name,), (Comment(release), *(Comment(c) for c in comments),
                                     *head, BLANK, *body(args)))


def module_source(key: str) -> str:
    """The catalogue module's release as a Git source pinned to the tag's commit."""
    git = catalogue.module(key)["git"]
    path = "" if git["path"] in ("", ".") else f"//{git['path']}"
    return f"git::{git['repository']}.git{path}?ref={git['commit']}"


def slug(text: str) -> str:
    """A Terraform identifier from a region or cluster name: `europe-west1` -> `europe_west1`."""
    return text.replace("-", "_").replace(".", "_")


__all__ = [
    "MISSING",
    "ONPREM",
    "Contribution",
    "Contributor",
    "Output",
    "TerraformEnv",
    "Validation",
    "Variable",
    "module_block",
    "module_source",
    "slug",
]
