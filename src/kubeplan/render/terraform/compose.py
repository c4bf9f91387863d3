"""Composition: block contributions -> one root module per environment and layer.

Each root gets `versions.tf`, `backend.tf`, `providers.tf`, `variables.tf`, `locals.tf`,
`remote-state.tf` (only the earlier layers it reads), one `<block>.tf` per contributing block and
`outputs.tf`. Every layer publishes a `gitops` output (the values the GitOps tree needs from it);
the last layer merges those of all layers, so one `terraform output -json gitops` after the last
apply hands everything over.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kubeplan import catalogue
from kubeplan.errors import RenderError
from kubeplan.model import Plan
from kubeplan.render.naming import AFTER_GITOPS_LAYERS, TERRAFORM_LAYERS
from kubeplan.render.terraform import roots
from kubeplan.render.terraform.hcl import (
    Attribute,
    Block,
    Expr,
    Item,
    Value,
    block,
    call,
    ref,
    render_file,
    var,
)
from kubeplan.render.terraform.model import (
    Contribution,
    Contributor,
    Output,
    TerraformEnv,
    Variable,
    module_source,
    slug,
)
from kubeplan.render.tree import OutputTree

ROOT = "terraform"
ACCOUNT_KEY = {"gcp": "gcp.project-id", "aws": "aws.account-id", "azure": "azure.subscription-id"}
# The platform-outputs variable of each cloud's account (render/gitops/outputs.py names them;
# AWS_ACCOUNT_ID is new there: the GitOps tree does not read it yet).
ACCOUNT_VARIABLE = {"gcp": "GCP_PROJECT_ID", "aws": "AWS_ACCOUNT_ID",
                    "azure": "AZURE_SUBSCRIPTION_ID"}
CLIENT_CONFIG = block("data", "azurerm_client_config", "current")
_REMOTE = re.compile(r"data\.terraform_remote_state\.([a-z0-9_]+)\.")
_MODULE_SOURCES = {module_source(key): key for key in catalogue.load()["modules"]}


def _walk(items: Iterable[Item]) -> Iterable[Item]:
    for item in items:
        yield item
        if isinstance(item, Block):
            yield from _walk(item.body)


def providers_of(blocks: Sequence[Block]) -> set[str]:
    """Providers the blocks need: from resource types, module pins and `provider =` overrides."""
    found: set[str] = set()
    for top in blocks:
        if top.type in ("resource", "data", "ephemeral"):
            provider = roots.provider_of(top.labels[0])
            if provider:
                found.add(provider)
        elif top.type == "module":
            source = next(i.value for i in top.body
                          if isinstance(i, Attribute) and i.name == "source")
            key = _MODULE_SOURCES.get(str(source))
            if key is None:
                raise RenderError(f"module {top.labels[0]}: source {source!r} is not pinned in "
                                  "the catalogue")
            found.update(catalogue.module(key)["providers"])
        for item in _walk(top.body):
            if isinstance(item, Attribute) and item.name == "provider" \
                    and isinstance(item.value, Expr):
                found.add(item.value.text.split(".", 1)[0])
    return found


def _merge_unique(kind: str, where: str, pairs: Iterable[tuple[str, object]]) -> dict[str, object]:
    """Same key twice is fine when equal (a shared helper used by two blocks); else an error."""
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out and out[key] != value:
            raise RenderError(f"{where}: two contributions define {kind} {key!r} differently")
        out.setdefault(key, value)
    return out


def _gcp_services(apis: set[str]) -> Block:
    """Project APIs the environment uses, enabled in its first layer."""
    return block("resource", "google_project_service", "enabled",
                 for_each=call("toset", sorted(apis)), project=var("project_id"),
                 service=Expr("each.value"), disable_on_destroy=False)


def _merged_output(name: str, layer: str, own: dict[str, Value], *, earlier: list[str],
                   env: TerraformEnv, final: bool, what: str) -> Output:
    """A layer's own values; the last layer's merges every layer's (one hand-over)."""
    if final and earlier:
        value: Value = call("merge", *(env.remote(other, name) for other in earlier), own)
        description = (f"{what}, from all layers of this environment "
                       f"(`terraform output -json {name}`).")
    else:
        value = own
        description = f"{what}: those of the {layer} layer."
    return Output(name, value, description)


def _layer_files(env: TerraformEnv, layer: str, parts: list[Contribution], *,
                 earlier: list[str], final: bool, apis: set[str]
                 ) -> tuple[dict[str, str], list[Variable]]:
    where = f"terraform/{env.environment}/{layer}"
    by_file: dict[str, list[Block]] = defaultdict(list)
    seen: dict[str, Block] = {}
    for part in parts:
        for b in part.blocks:
            if b.address in seen:
                if seen[b.address] != b:
                    raise RenderError(f"{where}: two contributions define {b.address} "
                                      "differently")
                continue
            seen[b.address] = b
            by_file[part.file].append(b)
    if apis and env.provider == "gcp":
        by_file["apis"].append(_gcp_services(apis))
    variables = _merge_unique("variable", where,
                              ((v.name, v) for p in parts for v in p.variables))
    locals_ = _merge_unique("local", where, ((k, v) for p in parts for k, v in p.locals.items()))
    outputs = _merge_unique("output", where, ((o.name, o) for p in parts for o in p.outputs))
    gitops = _merge_unique("GitOps value", where,
                           ((k, v) for p in parts for k, v in p.gitops.items()))
    platform = _merge_unique("platform output", where,
                             ((k, v) for p in parts for k, v in p.platform.items()))
    if final:
        # The account the environment lives in: part of every role ARN, e-mail and endpoint.
        account = var(roots.PROVIDER_VARIABLE[env.provider].name)
        gitops.setdefault(ACCOUNT_KEY[env.provider], account)
        platform.setdefault(ACCOUNT_VARIABLE[env.provider], account)
        if env.provider == "azure":
            platform.setdefault("AZURE_TENANT_ID",
                                ref("data.azurerm_client_config.current.tenant_id"))
            if CLIENT_CONFIG.address not in seen:
                by_file["platform"].append(CLIENT_CONFIG)
    outputs["gitops"] = _merged_output(
        "gitops", layer, dict(sorted(gitops.items())),  # type: ignore[arg-type]
        earlier=earlier, env=env, final=final,
        what="Cloud-side values the GitOps tree reads, by descriptive key")
    outputs["platform_outputs"] = _merged_output(
        "platform_outputs", layer, dict(sorted(platform.items())),  # type: ignore[arg-type]
        earlier=earlier, env=env, final=final,
        what="The GitOps tree's ${VARIABLE}s (Flux's platform-outputs ConfigMap, the "
             "annotations of Argo CD's cluster Secret)")

    all_blocks = [b for blocks in by_file.values() for b in blocks]
    providers = providers_of(all_blocks)
    provider_blocks = roots.provider_blocks(env, providers)
    # The account variable goes with the cloud's providers (not Harbor's or Vault's).
    if any(b.labels[0] not in roots.SERVICE_PROVIDERS for b in provider_blocks):
        common = roots.PROVIDER_VARIABLE[env.provider]
        variables = {common.name: common, **variables}

    files: dict[str, str] = {}
    files["versions.tf"] = render_file([roots.versions(providers)])
    files["backend.tf"] = render_file([roots.backend(env.plan, env.environment, layer)])
    files["providers.tf"] = render_file(provider_blocks)
    files["variables.tf"] = render_file(
        [v.block() for v in variables.values() if isinstance(v, Variable)])
    if locals_:
        files["locals.tf"] = render_file([block("locals", **locals_)])  # type: ignore[arg-type]
    for name, blocks in sorted(by_file.items()):
        files[f"{name}.tf"] = render_file(blocks)
    files["outputs.tf"] = render_file(
        [o.block() for o in outputs.values() if isinstance(o, Output)])

    states = _remote_states(env, where, "".join(files.values()), earlier)
    if states:
        files["remote-state.tf"] = render_file(states)
    required = [v for v in variables.values() if isinstance(v, Variable) and v.required]
    return files, required


@dataclass
class Summary:
    """What the runbook says about one environment."""

    layers: list[str] = field(default_factory=list)
    inputs: dict[str, list[Variable]] = field(default_factory=dict)  # layer -> required inputs
    gitops: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _remote_states(env: TerraformEnv, where: str, text: str, earlier: list[str]) -> list[Block]:
    """Data sources for the states `text` reads: earlier layers of this environment, or (for
    production only) layers of the other environments, which are applied before it."""
    blocks: list[Block] = []
    others = {slug(e): e for e in env.plan.metadata.environments if e != env.environment}
    for name in sorted(set(_REMOTE.findall(text))):
        if name in TERRAFORM_LAYERS:
            if name not in earlier:
                raise RenderError(f"{where} reads the state of layer {name!r}, which is not "
                                  "applied before it in this environment")
            blocks.append(roots.remote_state(env.plan, env.environment, name))
            continue
        stem, _, layer = name.rpartition("_")
        if stem not in others or layer not in TERRAFORM_LAYERS or not env.production:
            raise RenderError(f"{where} reads an unknown or later state {name!r}")
        blocks.append(roots.remote_state(env.plan, others[stem], layer, name))
    return blocks


def render_environment(env: TerraformEnv, contributors: Sequence[Contributor],
                       tree: OutputTree) -> Summary:
    """Write the environment's root modules and summarise them for the runbook."""
    by_layer: dict[str, list[Contribution]] = defaultdict(list)
    for contribute in contributors:
        for part in contribute(env):
            by_layer[part.layer].append(part)
    summary = Summary()
    summary.notes = list(dict.fromkeys(n for parts in by_layer.values() for p in parts
                                       for n in p.notes))
    # A layer exists when something is applied there; notes alone only reach the runbook.
    summary.layers = [layer for layer in TERRAFORM_LAYERS
                      if any(p.blocks or p.outputs or p.gitops for p in by_layer.get(layer, []))]
    apis = {api for parts in by_layer.values() for p in parts for api in p.gcp_apis}
    # The last layer applied before the GitOps sync hands every layer's values over.
    handover = [layer for layer in summary.layers if layer not in AFTER_GITOPS_LAYERS]
    for index, layer in enumerate(summary.layers):
        files, required = _layer_files(env, layer, by_layer[layer],
                                       earlier=summary.layers[:index],
                                       final=bool(handover) and layer == handover[-1],
                                       apis=apis if index == 0 else set())
        summary.inputs[layer] = required
        for name, text in files.items():
            tree.add(f"{ROOT}/{env.environment}/{layer}/{name}", text)
    summary.gitops = sorted({k for parts in by_layer.values() for p in parts for k in p.gitops})
    return summary


def environments(plan: Plan) -> tuple[TerraformEnv, ...]:
    return tuple(TerraformEnv(plan, e) for e in plan.metadata.environments)


__all__ = ["ROOT", "Summary", "environments", "providers_of", "render_environment"]
