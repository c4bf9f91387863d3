"""The Terraform target on every example: valid against the pinned module interfaces, checkov
clean, deterministic, private by default, wired to the shared names; on-prem files proven with
named-checkzone."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeplan import catalogue
from kubeplan.check import terraform as check_terraform
from kubeplan.check.tftypes import EXACT, satisfies
from kubeplan.errors import Finding
from kubeplan.render import mirrors, naming

from .conftest import SHARED_UPSTREAM, example_files
from .terraform_support import Rendered, plan_of, render, write

EXAMPLES = [p.stem for p in example_files()]


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    return {example: render(example) for example in EXAMPLES}


@pytest.fixture(scope="module")
def trees(rendered: dict[str, Rendered], tmp_path_factory: pytest.TempPathFactory
          ) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("terraform")
    return {name: write(r, base / name) for name, r in rendered.items()}


@pytest.fixture(scope="module")
def checkov_findings(trees: dict[str, Path]) -> list[Finding]:
    """One checkov run over every example's Terraform (its start-up dominates its time)."""
    base = next(iter(trees.values())).parent
    return check_terraform.checkov(base, base)


def cloud(rendered: dict[str, Rendered]) -> list[Rendered]:
    return [r for r in rendered.values() if r.provider != "onprem"]


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES)
def test_roots_match_pinned_module_interfaces(example: str, trees: dict[str, Path]) -> None:
    findings = check_terraform.check_roots(trees[example], SHARED_UPSTREAM)
    assert not findings, "\n".join(f.render() for f in findings)


def test_checkov_passes_on_every_example(checkov_findings: list[Finding],
                                         rendered: dict[str, Rendered]) -> None:
    assert check_terraform.checkov_command(), "checkov is needed: run `bash scripts/test.sh`"
    assert not checkov_findings, "\n".join(f.render() for f in checkov_findings)
    assert len(cloud(rendered)) >= 5


def test_checkov_skips_are_inline_with_a_reason(rendered: dict[str, Rendered]) -> None:
    for r in cloud(rendered):
        for path, text in r.tf().items():
            for match in re.finditer(r"checkov:skip=([A-Z0-9_]+)(:?)([^\n]*)", text):
                assert match[2] == ":" and len(match[3].strip()) > 20, (path, match[0])


@pytest.mark.parametrize("example", EXAMPLES)
def test_byte_identical_across_two_builds(example: str, rendered: dict[str, Rendered]) -> None:
    again = render(example, plan_of(example))
    assert again.files == rendered[example].files


def test_terraform_fmt_leaves_files_unchanged(trees: dict[str, Path]) -> None:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("the terraform binary is not installed (fmt check only)")
    for example, tree in trees.items():
        folder = tree / "terraform"
        if not folder.is_dir():
            continue
        done = subprocess.run([binary, "fmt", "-recursive", "-check", "-list=true", str(folder)],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, (example, done.stdout, done.stderr)


# --- layout ---------------------------------------------------------------------------------


def test_layers_in_apply_order_with_their_own_state(rendered: dict[str, Rendered]) -> None:
    for r in cloud(rendered):
        for environment in r.plan.metadata.environments:
            layers = sorted({p.split("/")[2] for p in r.files
                             if p.startswith(f"terraform/{environment}/")})
            assert layers, (r.example, environment)
            assert set(layers) <= set(naming.TERRAFORM_LAYERS)
            for layer in layers:
                root = f"terraform/{environment}/{layer}"
                for name in ("versions.tf", "backend.tf", "providers.tf", "variables.tf",
                             "outputs.tf"):
                    assert f"{root}/{name}" in r.files, (r.example, root, name)
                backend = r.files[f"{root}/backend.tf"].decode()
                assert f"{environment}/{layer}" in backend
                if r.provider == "aws":
                    assert "use_lockfile = true" in backend and "dynamodb" not in backend
        readme = r.files["terraform/README.md"].decode()
        assert "output -json" in readme and "platform_outputs" in readme
        positions = [readme.index(f"terraform/{r.plan.topology.production}/{layer}`")
                     for layer in naming.TERRAFORM_LAYERS
                     if f"terraform/{r.plan.topology.production}/{layer}/versions.tf" in r.files]
        assert positions == sorted(positions), r.example


def test_versions_are_exact_and_satisfy_every_module() -> None:
    pins = catalogue.load()["providers"]
    index = json.loads((SHARED_UPSTREAM / "terraform-modules/index.json").read_text())
    by_file = {m["file"]: m for m in index["modules"]}
    assert EXACT.match(catalogue.entry("tools", "terraform")["version"])
    for key, entry in catalogue.load()["modules"].items():
        file = entry["upstream"]["interface"].removeprefix("terraform-modules/")
        upstream = by_file[file]
        assert (entry["source"], entry["version"]) == (upstream["source"], upstream["version"])
        assert entry["git"]["commit"] == upstream["commit"], key
        interface = json.loads((SHARED_UPSTREAM / entry["upstream"]["interface"]).read_text())
        assert set(interface["required_providers"]) == set(entry["providers"]), key
        for name, spec in interface["required_providers"].items():
            assert EXACT.match(pins[name]["version"]), name
            assert satisfies(pins[name]["version"], spec["version"]), (key, name)


def test_modules_are_called_at_the_release_commit(rendered: dict[str, Rendered]) -> None:
    sources = set()
    for r in cloud(rendered):
        for data in r.parsed().values():
            for entry in data.get("module", []):  # type: ignore[attr-defined]
                sources.update(body["source"].strip('"') for body in entry.values()
                               if isinstance(body, dict))
    assert len(sources) >= 15
    for source in sources:
        assert re.fullmatch(r"git::https://github\.com/[^?]+\.git(//[^?]+)?\?ref=[0-9a-f]{40}",
                            source), source


# --- secure by default ------------------------------------------------------------------------


def _walk(node: Any, path: tuple[str, ...] = ()) -> Any:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, str(index)))


def test_no_long_lived_keys_and_no_public_data(rendered: dict[str, Rendered]) -> None:
    forbidden = ("google_service_account_key", "aws_iam_access_key", "aws_iam_user",
                 "azurerm_storage_account_sas", "allUsers", "allAuthenticatedUsers",
                 "public-read", "admin_enabled          = true")
    for r in cloud(rendered):
        for path, text in r.tf().items():
            for word in forbidden:
                assert word not in text, (r.example, path, word)
            assert "shared_access_key_enabled = true" not in text
        for path, data in r.parsed().items():
            for where, node in _walk(data):
                if where[-1:] == ("public_access_prevention",):
                    assert node == '"enforced"', (path, where)
                if where[-1:] in (("block_public_acls",), ("block_public_policy",),
                                  ("restrict_public_buckets",), ("ignore_public_acls",),
                                  ("allow_nested_items_to_be_public",)):
                    assert node is (where[-1] != "allow_nested_items_to_be_public"), (path, where)
                if where[-1:] == ("public_network_access_enabled",) and "storage_account" in \
                        "/".join(where):
                    assert node is False or "bootstrap" in path, (path, where)


def test_internet_ranges_only_in_deny_rules_and_egress(rendered: dict[str, Rendered]) -> None:
    """0.0.0.0/0 appears only as the source of a deny rule or the destination of egress; SSH is
    admitted from IAP's range or the operators' `admin_cidrs`, never from everywhere."""
    for r in cloud(rendered):
        for path, data in r.parsed().items():
            for where, node in _walk(data):
                if not isinstance(node, dict):
                    continue
                values = [v for v in node.values()
                          if v == '"0.0.0.0/0"' or (isinstance(v, list) and '"0.0.0.0/0"' in v)]
                if values:
                    assert "deny" in node or "egress" in "/".join(where), (r.example, path, where)
        for path, text in r.tf().items():
            if '"ssh-tcp"' in text:
                assert "ingress_cidr_blocks = var.admin_cidrs" in text, path
            if 'ports    = ["22"]' in text:
                assert '"35.235.240.0/20"' in text, path


def test_clusters_are_private(rendered: dict[str, Rendered]) -> None:
    for r in cloud(rendered):
        private = r.plan.decision("network").param("controlPlaneEndpoint") == "private"
        for path, text in r.tf().items():
            if "modules/private-cluster" in text:
                assert "enable_private_nodes    = true" in text
                assert f"enable_private_endpoint = {str(private).lower()}" in text
            if "terraform-aws-eks.git" in text:
                assert f"endpoint_public_access                   = {str(not private).lower()}" \
                    in text, path
            if "terraform-azurerm-aks.git" in text:
                assert f"private_cluster_enabled = {str(private).lower()}" in \
                    re.sub(r"\s+=", " =", text), path


def test_admin_networks_refuse_the_whole_internet(rendered: dict[str, Rendered]) -> None:
    for r in cloud(rendered):
        for path, text in r.tf().items():
            if path.endswith("variables.tf") and 'variable "admin_cidrs"' in text:
                assert '!startswith(c, "0.0.0.0/")' in text


# --- wiring to the GitOps tree ----------------------------------------------------------------


def test_buckets_and_identities_use_the_shared_names(rendered: dict[str, Rendered]) -> None:
    for r in cloud(rendered):
        for environment in r.plan.metadata.environments:
            storage = "".join(t for p, t in r.tf().items()
                              if p.startswith(f"terraform/{environment}/storage/"))
            assert naming.bucket(r.plan, environment, "velero") in storage
            assert naming.identity(r.plan, environment, "velero") in storage
            assert naming.identity(r.plan, environment, "external-dns") in storage
            if r.plan.choice("logging") == "loki":
                assert naming.bucket(r.plan, environment, "loki") in storage
            if r.plan.choice("metrics") == "prometheus-thanos":
                assert naming.bucket(r.plan, environment, "thanos") in storage
            assert '"velero.bucket"' in storage and '"velero.identity"' in storage


def test_last_layer_hands_over_every_layer(rendered: dict[str, Rendered]) -> None:
    for r in cloud(rendered):
        environment = r.plan.topology.production
        # Layers applied after the GitOps sync (Harbor's API) hand nothing over.
        layers = [layer for layer in naming.TERRAFORM_LAYERS
                  if f"terraform/{environment}/{layer}/outputs.tf" in r.files
                  and layer not in naming.AFTER_GITOPS_LAYERS]
        last = r.files[f"terraform/{environment}/{layers[-1]}/outputs.tf"].decode()
        for layer in layers[:-1]:
            assert f"data.terraform_remote_state.{layer}.outputs.gitops" in last, r.example


def test_multi_region_replicates_backups_and_images(rendered: dict[str, Rendered]) -> None:
    shop = rendered["shop"].tf()
    storage = "".join(t for p, t in shop.items() if p.startswith("terraform/prod/storage/"))
    assert "google_storage_transfer_job" in storage
    registry = "".join(t for p, t in shop.items() if p.startswith("terraform/prod/registry/"))
    # One repository per region; the pull-through caches (remote repositories) only in the
    # primary region.
    assert registry.count('resource "google_artifact_registry_repository" "images_') == 2
    assert len(re.findall(r'mode\s+=\s+"REMOTE_REPOSITORY"', registry)) == len(mirrors.UPSTREAMS)
    media = rendered["media-site"].tf()
    storage = "".join(t for p, t in media.items() if p.startswith("terraform/prod/storage/"))
    assert "replication_configuration" in storage
    edge = "".join(t for p, t in media.items() if p.startswith("terraform/prod/edge/"))
    assert "aws_globalaccelerator_endpoint_group" in edge and "module \"cdn\"" in edge
    registry = "".join(t for p, t in media.items() if p.startswith("terraform/prod/registry/"))
    assert "registry_replication_rules" in registry


# --- on-prem --------------------------------------------------------------------------------


def test_onprem_has_no_terraform_and_passes_named_checkzone(
        rendered: dict[str, Rendered], trees: dict[str, Path]) -> None:
    for r in rendered.values():
        if r.provider != "onprem":
            continue
        # Only the layers that configure what the GitOps tree runs (Harbor's API).
        assert {p.split("/")[2] for p in r.files if p.startswith("terraform/")} \
            <= set(naming.AFTER_GITOPS_LAYERS)
        zones = [p for p in r.files if p.endswith(".zone")]
        assert zones == [f"onprem/dns/{r.plan.metadata.domain}.zone"]
        assert shutil.which("named-checkzone"), "named-checkzone (bind9-utils) is needed"
        findings = check_terraform.check_zone_files(trees[r.example])
        assert not findings, "\n".join(f.render() for f in findings)
        zone = r.files[zones[0]].decode()
        for cluster in r.plan.topology.clusters:
            host = naming.kubernetes_api_host(r.plan, cluster.name)
            assert host.removesuffix(f".{r.plan.metadata.domain}") + " " in zone
        assert naming.dns_primary(r.plan).split(".")[0] + " " in zone


def test_onprem_encrypts_secrets_and_audits_without_key_material(
        rendered: dict[str, Rendered]) -> None:
    onprem_plans = [r for r in rendered.values() if r.provider == "onprem"]
    assert onprem_plans
    for r in onprem_plans:
        for cluster in r.plan.topology.clusters:
            folder = f"onprem/{cluster.environment}/{cluster.name}"
            encryption = yaml.safe_load(r.files[f"{folder}/encryption-config.yaml"])
            assert encryption["kind"] == "EncryptionConfiguration"
            providers = encryption["resources"][0]["providers"]
            assert providers[0]["kms"]["apiVersion"] == "v2"
            text = r.files[f"{folder}/encryption-config.yaml"].decode()
            assert "secret:" not in text and "aescbc" not in text
            policy = yaml.safe_load(r.files[f"{folder}/audit-policy.yaml"])
            assert policy["kind"] == "Policy" and policy["apiVersion"] == "audit.k8s.io/v1"
            secrets_rule = next(rule for rule in policy["rules"]
                                if any("secrets" in res.get("resources", [])
                                       for res in rule.get("resources", [])))
            assert secrets_rule["level"] == "Metadata"
            docs = list(yaml.safe_load_all(r.files[f"{folder}/kubeadm.yaml"]))
            config = next(d for d in docs if d["kind"] == "ClusterConfiguration")
            args = {a["name"]: a["value"] for a in config["apiServer"]["extraArgs"]}
            assert args["encryption-provider-config"].endswith("/config.yaml")
            assert args["audit-policy-file"].endswith("/policy.yaml")
            assert re.fullmatch(r"v\d+\.\d+\.\d+", config["kubernetesVersion"])
            # etcd snapshots are the GitOps CronJob's alone: no second mechanism on the nodes.
            assert not [p for p in r.files if p.startswith(folder) and "etcd" in p]


def _platform_keys(r: Rendered, environment: str) -> set[str]:
    """Keys of every layer's `platform_outputs` (the last layer merges them all)."""
    keys: set[str] = set()
    for path, text in r.tf().items():
        if path.startswith(f"terraform/{environment}/") and path.endswith("/outputs.tf"):
            start = text.index('output "platform_outputs"')
            body = text[start:text.index("\n}\n", start)]
            keys.update(re.findall(r"^\s+([A-Z][A-Z0-9_]*)\s+=", body, re.MULTILINE))
    return keys


@pytest.mark.parametrize("example", ["azure-startup", "shop", "aws-saas"])
def test_platform_outputs_fill_every_variable_of_the_gitops_tree(
        example: str, rendered: dict[str, Rendered]) -> None:
    """Every `${VARIABLE}` the GitOps tree leaves for the cloud is a key of the last layer's
    `platform_outputs` (the data of the platform-outputs ConfigMap)."""
    from kubeplan.blocks._gitops import render_gitops
    from kubeplan.render.gitops import outputs
    from kubeplan.render.tree import OutputTree

    r = rendered[example]
    tree = OutputTree()
    render_gitops(r.plan, tree)
    for cluster in r.plan.topology.clusters:
        wanted: set[str] = set()
        for path, data in tree:
            if f"/{cluster.name}/" in path:
                wanted |= set(outputs.VARIABLE.findall(data.decode())) & set(outputs.known())
        assert wanted <= _platform_keys(r, cluster.environment), (cluster.name, wanted)


def _service_accounts(values: Any) -> set[str]:
    """Names of every `serviceAccount` (or `serviceAccount.server`) in chart values."""
    found: set[str] = set()
    if isinstance(values, dict):
        for key, value in values.items():
            if key == "serviceAccount" and isinstance(value, dict):
                for account in (value, *(v for v in value.values() if isinstance(v, dict))):
                    if isinstance(account.get("name"), str):
                        found.add(account["name"])
            found |= _service_accounts(value)
    elif isinstance(values, list):
        for item in values:
            found |= _service_accounts(item)
    return found


@pytest.mark.parametrize("example", ["aws-saas", "media-site"])
def test_aws_workloads_have_pod_identity_associations(example: str,
                                                      rendered: dict[str, Rendered]) -> None:
    """Every add-on ServiceAccount of naming.WORKLOADS that the GitOps tree deploys on an EKS
    cluster (no role-arn annotation) has a pod identity association on that cluster, namespace
    and ServiceAccount in the environment's Terraform, with a role trusting EKS Pod Identity."""
    from kubeplan.blocks._gitops import render_gitops
    from kubeplan.render.tree import OutputTree

    r = rendered[example]
    tree = OutputTree()
    render_gitops(r.plan, tree)
    files = {p: d.decode() for p, d in tree}
    workloads = {(w.namespace, w.service_account) for w in naming.WORKLOADS.values()}
    for cluster in r.plan.topology.clusters:
        deployed: set[tuple[str, str]] = set()
        prefix = f"gitops/clusters/{cluster.name}/applications/"
        for path, text in files.items():
            if not path.startswith(prefix):
                continue
            for doc in yaml.safe_load_all(text):
                if not doc or doc.get("kind") != "Application":
                    continue
                namespace = doc["spec"]["destination"]["namespace"]
                for source in doc["spec"].get("sources", [doc["spec"].get("source", {})]):
                    helm = source.get("helm", {})
                    for value_file in helm.get("valueFiles", []):
                        values = yaml.safe_load(files[value_file.removeprefix("$values/")])
                        deployed |= {(namespace, a) for a in _service_accounts(values)}
                    deployed |= {(namespace, a)
                                 for a in _service_accounts(helm.get("valuesObject", {}))}
        expected = deployed & workloads
        assert {n for n, _ in expected} >= {"velero", "external-dns"}, (cluster.name, deployed)
        associations: set[tuple[str, str]] = set()
        for path, parsed in r.parsed().items():
            if not path.startswith(f"terraform/{cluster.environment}/storage/"):
                continue
            for resource in parsed.get("resource", []):  # type: ignore[attr-defined]
                for body in resource.get('"aws_eks_pod_identity_association"', {}).values():
                    if f'cluster_names["{cluster.name}"]' in body["cluster_name"]:
                        associations.add((body["namespace"].strip('"'),
                                          body["service_account"].strip('"')))
        assert expected <= associations, (cluster.name, expected - associations)
        storage = "".join(t for p, t in r.tf().items()
                          if p.startswith(f"terraform/{cluster.environment}/storage/"))
        assert '"pods.eks.amazonaws.com"' in storage and "sts:TagSession" in storage
        assert "oidc_providers" not in storage and "AssumeRoleWithWebIdentity" not in storage
    cluster_tf = "".join(t for p, t in r.tf().items() if "/cluster/" in p)
    assert re.search(r'^\s+"?eks-pod-identity-agent"?\s+=', cluster_tf, re.MULTILINE)
