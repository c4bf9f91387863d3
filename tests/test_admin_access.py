"""Admin access `vpn` rendered on AWS (Client VPN with SAML) and Azure (VPN Gateway with
Microsoft Entra ID), proven on variants of the aws-saas and azure-startup examples: the roots
match the pinned module interfaces, checkov passes with no skip, the variables' validations
hold under `terraform plan`, and the wiring (client ranges, routes, security groups, subnets,
DNS) is what an operator needs and no more. A VPN on GCP and identity-aware access on Azure are
refused, with the alternatives named.

Each variant is rendered once per module and checkov runs once over both.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeplan import app
from kubeplan.check import terraform as check_terraform
from kubeplan.errors import Finding
from kubeplan.model import Plan
from kubeplan.spec import load_text

from .conftest import EXAMPLES, SHARED_UPSTREAM
from .terraform_support import Rendered, render, write

VARIANTS = ("aws-saas", "azure-startup")
# Kinds of ranges in the network decision's subnet plan (blocks/network/rule.py).
RANGES = ("node", "service", "edge", "pod")


def vpn_plan(example: str) -> Plan:
    doc = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    doc["spec"]["security"]["adminAccess"] = "vpn"
    return app.plan(load_text(yaml.safe_dump(doc, sort_keys=False)))


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    return {example: render(example, vpn_plan(example)) for example in VARIANTS}


@pytest.fixture(scope="module")
def trees(rendered: dict[str, Rendered], tmp_path_factory: pytest.TempPathFactory
          ) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("admin-access")
    return {name: write(r, base / name) for name, r in rendered.items()}


# The layers admin_access changes: its own, the Azure VNet's subnets, the EKS API's rule. The
# other layers are those of the examples, which tests/test_terraform.py runs checkov on.
CHANGED_LAYERS = ("network", "access", "cluster")


@pytest.fixture(scope="module")
def checkov_findings(trees: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
                     ) -> list[Finding]:
    """One checkov run over both variants' changed layers (its start-up dominates)."""
    base = tmp_path_factory.mktemp("admin-access-checkov")
    for name, tree in trees.items():
        for layer in sorted((tree / "terraform").glob("*/*")):
            if layer.is_dir() and layer.name in CHANGED_LAYERS:
                shutil.copytree(layer, base / name / layer.parent.name / layer.name)
    copied = {p.parent.name for p in base.rglob("versions.tf")}
    assert copied == set(CHANGED_LAYERS), copied
    return check_terraform.checkov(base, base)


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def resources(r: Rendered, root: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(type, name) -> body of every resource in the root module `terraform/<root>/`."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path, data in r.parsed().items():
        if not path.startswith(f"terraform/{root}/"):
            continue
        entries: list[dict[str, Any]] = data.get("resource", [])  # type: ignore[assignment]
        for entry in entries:
            for kind, named in entry.items():
                for name, body in named.items():
                    out[(_unquote(kind), _unquote(name))] = body
    return out


def of_type(found: dict[tuple[str, str], dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for (k, name), body in found.items() if k == kind}


def network(plan: Plan, kind: str, region: str) -> IPv4Network:
    return IPv4Network(str(plan.decision("network").param(f"{kind}Cidr.{region}")))


def client_range(plan: Plan, region: str) -> IPv4Network:
    return IPv4Network(str(plan.decision("admin_access").param(f"vpnClientCidr.{region}")))


def environments(r: Rendered) -> list[tuple[str, list[str]]]:
    """(environment, its regions) of the plan."""
    out = []
    for environment in r.plan.metadata.environments:
        used = {c.region for c in r.plan.topology.clusters_in(environment)}
        out.append((environment, [g for g in r.plan.topology.regions if g in used]))
    return out


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("example", VARIANTS)
def test_roots_match_pinned_module_interfaces(example: str, trees: dict[str, Path]) -> None:
    findings = check_terraform.check_roots(trees[example], SHARED_UPSTREAM)
    assert not findings, "\n".join(f.render() for f in findings)


def test_checkov_passes_without_a_skip_in_the_access_layer(
        checkov_findings: list[Finding], rendered: dict[str, Rendered]) -> None:
    assert check_terraform.checkov_command(), "checkov is needed: run `bash scripts/test.sh`"
    assert not checkov_findings, "\n".join(f.render() for f in checkov_findings)
    for r in rendered.values():
        access = {p: t for p, t in r.tf().items() if "/access/" in p}
        assert access, r.example
        assert not any("checkov:skip" in t for t in access.values())


def test_terraform_fmt_leaves_files_unchanged(trees: dict[str, Path]) -> None:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("the terraform binary is not installed")
    for example, tree in trees.items():
        done = subprocess.run([binary, "fmt", "-recursive", "-check", "-list=true",
                               str(tree / "terraform")], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, (example, done.stdout, done.stderr)


def _plan_variables(tree: Path, root: str, values: dict[str, Any]) -> str:
    """`terraform plan` of a root holding only `root`'s variables.tf: the validations run
    without providers or state. Returns the errors (empty when the values are accepted)."""
    binary = shutil.which("terraform")
    assert binary
    work = tree.parent / f"variables-{tree.name}-{root.replace('/', '-')}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    shutil.copy(tree / "terraform" / root / "variables.tf", work / "variables.tf")
    (work / "values.auto.tfvars.json").write_text(json.dumps(values))
    subprocess.run([binary, "init", "-input=false", "-no-color"], cwd=work,
                   capture_output=True, check=True)
    done = subprocess.run([binary, "plan", "-input=false", "-no-color"], cwd=work,
                          capture_output=True, text=True, check=False)
    return "" if done.returncode == 0 else " ".join(done.stderr.split())


CERTIFICATE = "arn:aws:acm:{}:123456789012:certificate/0b1c2d3e-4f5a-6b7c-8d9e-0123456789ab"


def test_vpn_variables_accept_real_values_and_refuse_wrong_ones(trees: dict[str, Path]) -> None:
    if shutil.which("terraform") is None:
        pytest.skip("the terraform binary is not installed")
    aws = {"aws_account_id": "123456789012",
           "vpn_saml_provider_arn": "arn:aws:iam::123456789012:saml-provider/corporate-idp",
           "vpn_admin_group_ids": ["4f1c2d3e-platform-admins"],
           "vpn_server_certificate_arns": {r: CERTIFICATE.format(r)
                                           for r in ("eu-central-1", "eu-west-1")}}
    assert _plan_variables(trees["aws-saas"], "prod/access", aws) == ""
    wrong = {**aws, "vpn_saml_provider_arn": "arn:aws:iam::123456789012:role/admins",
             "vpn_admin_group_ids": [],
             "vpn_server_certificate_arns": {"eu-central-1": CERTIFICATE.format("eu-west-1")}}
    errors = _plan_variables(trees["aws-saas"], "prod/access", wrong)
    assert "vpn_saml_provider_arn must be an IAM SAML provider ARN" in errors
    assert "vpn_admin_group_ids must name at least one group" in errors
    assert "needs an ACM certificate ARN for each of eu-central-1, eu-west-1" in errors
    azure = {"subscription_id": "0b1c2d3e-4f5a-6b7c-8d9e-0123456789ab",
             "vpn_aad_audience": "c632b3df-fb67-4d84-bdcf-b95ad541b5c8"}
    assert _plan_variables(trees["azure-startup"], "prod/access", azure) == ""
    errors = _plan_variables(trees["azure-startup"], "prod/access",
                             {**azure, "vpn_aad_audience": "Azure VPN"})
    assert "vpn_aad_audience must be an application (client) ID" in errors


def test_byte_identical_across_two_builds(rendered: dict[str, Rendered]) -> None:
    for example, r in rendered.items():
        assert render(example, vpn_plan(example)).files == r.files, example


# --- the plan ----------------------------------------------------------------------------------


@pytest.mark.parametrize("example", VARIANTS)
def test_client_ranges_lie_outside_every_range_of_the_plan(example: str,
                                                           rendered: dict[str, Rendered]) -> None:
    plan = rendered[example].plan
    regions = plan.topology.regions
    clients = [client_range(plan, region) for region in regions]
    assert len(set(clients)) == len(regions), "one client range per region"
    for region, clients_ in zip(regions, clients, strict=True):
        assert clients_.prefixlen == 22, "AWS Client VPN's smallest client range"
        assert clients_.subnet_of(network(plan, "region", region))
        for other in regions:
            for kind in RANGES:
                assert not clients_.overlaps(network(plan, kind, other)), (region, kind, other)


# --- AWS ---------------------------------------------------------------------------------------


def test_aws_client_vpn_per_region_with_saml_and_logs(rendered: dict[str, Rendered]) -> None:
    r = rendered["aws-saas"]
    for environment, regions in environments(r):
        found = resources(r, f"{environment}/access")
        endpoints = of_type(found, "aws_ec2_client_vpn_endpoint")
        assert sorted(endpoints) == sorted(g.replace("-", "_") for g in regions), environment
        assert not of_type(found, "aws_instance")
        for region in regions:
            r_ = region.replace("-", "_")
            ep = endpoints[r_]
            assert _unquote(ep["region"]) == region
            assert _unquote(ep["client_cidr_block"]) == str(client_range(r.plan, region))
            auth = ep["authentication_options"][0]
            assert _unquote(auth["type"]) == "federated-authentication"
            assert auth["saml_provider_arn"] == "${var.vpn_saml_provider_arn}"
            assert ep["server_certificate_arn"] == \
                f'${{var.vpn_server_certificate_arns["{region}"]}}'
            assert ep["split_tunnel"] is True
            assert ep["session_timeout_hours"] == 8
            assert ep["disconnect_on_session_timeout"] is True
            assert _unquote(ep["self_service_portal"]) == "disabled"
            # The VPC resolver answers for the EKS private endpoint's hosted zone.
            assert [_unquote(d) for d in ep["dns_servers"]] == \
                [str(network(r.plan, "node", region)[2])]
            logs = ep["connection_log_options"][0]
            assert logs["enabled"] is True
            assert logs["cloudwatch_log_group"] == \
                f"${{aws_cloudwatch_log_group.vpn_{r_}.name}}"
            group = of_type(found, "aws_cloudwatch_log_group")[f"vpn_{r_}"]
            assert group["kms_key_id"] == f"${{aws_kms_key.vpn_logs_{r_}.arn}}"
            assert group["retention_in_days"] >= 365
            key = of_type(found, "aws_kms_key")[f"vpn_logs_{r_}"]
            assert key["enable_key_rotation"] is True
            assert "kms:EncryptionContext:aws:logs:arn" in key["policy"]


def test_aws_only_the_administrators_groups_reach_the_vpc_primary_range(
        rendered: dict[str, Rendered]) -> None:
    r = rendered["aws-saas"]
    for environment, regions in environments(r):
        found = resources(r, f"{environment}/access")
        rules = of_type(found, "aws_ec2_client_vpn_authorization_rule")
        associations = of_type(found, "aws_ec2_client_vpn_network_association")
        for region in regions:
            r_ = region.replace("-", "_")
            rule = rules[r_]
            assert rule["for_each"] == "${toset(var.vpn_admin_group_ids)}"
            assert rule["access_group_id"] == "${each.value}"
            assert rule["authorize_all_groups"] is False
            assert _unquote(rule["target_network_cidr"]) == str(network(r.plan, "node", region))
            association = associations[r_]
            assert association["count"] == (3 if environment == r.plan.topology.production
                                            else 1)
            assert "control_plane_subnets" in association["subnet_id"]
        assert len(rules) == len(regions) and len(associations) == len(regions)


def test_aws_vpn_security_group_allows_the_api_and_dns_only(
        rendered: dict[str, Rendered]) -> None:
    r = rendered["aws-saas"]
    for environment, regions in environments(r):
        found = resources(r, f"{environment}/access")
        assert not of_type(found, "aws_vpc_security_group_ingress_rule")
        egress = of_type(found, "aws_vpc_security_group_egress_rule")
        for region in regions:
            r_ = region.replace("-", "_")
            primary = network(r.plan, "node", region)
            rules = {(_unquote(b["ip_protocol"]), b["from_port"], b["to_port"],
                      _unquote(b["cidr_ipv4"]))
                     for name, b in egress.items() if name.startswith(f"vpn_{r_}_")}
            resolver = f"{primary[2]}/32"
            assert rules == {("tcp", 443, 443, str(primary)), ("udp", 53, 53, resolver),
                             ("tcp", 53, 53, resolver)}
            group = of_type(found, "aws_security_group")[f"vpn_{r_}"]
            assert "ingress" not in group and "egress" not in group
        text = "".join(t for p, t in r.tf().items() if p.startswith(f"terraform/{environment}/"
                                                                     "access/"))
        assert "= 22" not in text, "no SSH anywhere on the admin path"


def test_aws_clusters_admit_the_vpn_on_443(rendered: dict[str, Rendered]) -> None:
    r = rendered["aws-saas"]
    for environment, regions in environments(r):
        outputs = r.tf()[f"terraform/{environment}/access/outputs.tf"]
        for region in regions:
            assert f"{region} = aws_security_group.vpn_{region.replace('-', '_')}.id" in \
                re.sub(r" +", " ", outputs)
        cluster = r.tf()[f"terraform/{environment}/cluster/cluster.tf"]
        rules = re.findall(r"admin_access = \{(.*?)\}", cluster, flags=re.S)
        assert len(rules) == len(r.plan.topology.clusters_in(environment))
        for rule in rules:
            assert re.search(r"from_port\s+= 443", rule) and re.search(r"to_port\s+= 443", rule)
            assert "access_security_groups" in rule


# --- Azure -------------------------------------------------------------------------------------


def test_azure_point_to_site_gateway_with_entra_id(rendered: dict[str, Rendered]) -> None:
    r = rendered["azure-startup"]
    for environment, regions in environments(r):
        found = resources(r, f"{environment}/access")
        gateways = of_type(found, "azurerm_virtual_network_gateway")
        assert sorted(gateways) == sorted(regions)
        assert not of_type(found, "azurerm_bastion_host")
        for region in regions:
            gateway = gateways[region]
            assert (_unquote(gateway["type"]), _unquote(gateway["vpn_type"])) == \
                ("Vpn", "RouteBased")
            assert _unquote(gateway["sku"]).endswith("AZ")
            assert "gateway_subnet_ids" in gateway["ip_configuration"][0]["subnet_id"]
            client = gateway["vpn_client_configuration"][0]
            assert [_unquote(p) for p in client["vpn_client_protocols"]] == ["OpenVPN"]
            assert [_unquote(a) for a in client["vpn_auth_types"]] == ["AAD"]
            assert [_unquote(a) for a in client["address_space"]] == \
                [str(client_range(r.plan, region))]
            assert client["aad_audience"] == "${var.vpn_aad_audience}"
            tenant = "${data.azurerm_client_config.current.tenant_id}"
            assert _unquote(client["aad_tenant"]) == f"https://login.microsoftonline.com/{tenant}"
            assert _unquote(client["aad_issuer"]) == f"https://sts.windows.net/{tenant}/"
            address = of_type(found, "azurerm_public_ip")[f"vpn_{region}"]
            assert _unquote(address["sku"]) == "Standard"
            assert [_unquote(z) for z in address["zones"]] == ["1", "2", "3"]
            logs = of_type(found, "azurerm_monitor_diagnostic_setting")[f"vpn_{region}"]
            assert "P2SDiagnosticLog" in {_unquote(e["category"]) for e in logs["enabled_log"]}
            inbound = of_type(found, "azurerm_private_dns_resolver_inbound_endpoint")[region]
            assert "dns_inbound_subnet_ids" in inbound["ip_configurations"][0]["subnet_id"]
            assert "vnet_ids" in of_type(found, "azurerm_private_dns_resolver")[region][
                "virtual_network_id"]


def test_azure_network_carves_the_gateway_and_resolver_subnets_from_the_edge_range(
        rendered: dict[str, Rendered]) -> None:
    r = rendered["azure-startup"]
    for environment, regions in environments(r):
        modules: dict[str, Any] = {}
        for path, data in r.parsed().items():
            if path.startswith(f"terraform/{environment}/network/"):
                calls: list[dict[str, Any]] = data.get("module", [])  # type: ignore[assignment]
                for entry in calls:
                    modules |= {_unquote(k): v for k, v in entry.items()}
        for region in regions:
            subnets = modules[f"vnet_{region}"]["subnets"]
            assert "bastion" not in subnets
            edge = network(r.plan, "edge", region)
            gateway = IPv4Network(_unquote(subnets["gateway"]["address_prefixes"][0]))
            inbound = IPv4Network(_unquote(subnets["dns_inbound"]["address_prefixes"][0]))
            assert _unquote(subnets["gateway"]["name"]) == "GatewaySubnet"
            assert gateway.subnet_of(edge) and gateway.prefixlen <= 27
            assert inbound.subnet_of(edge) and inbound.prefixlen <= 28
            assert not gateway.overlaps(inbound)
            delegation = subnets["dns_inbound"]["delegations"][0]["service_delegation"]
            assert _unquote(delegation["name"]) == "Microsoft.Network/dnsResolvers"
            # The clients' range is routed to the VNet, never part of it.
            space = [IPv4Network(_unquote(a)) for a in
                     modules[f"vnet_{region}"]["address_space"]]
            assert not any(client_range(r.plan, region).overlaps(s) for s in space)


# --- the operator's side ---------------------------------------------------------------------


def test_runbook_says_how_to_connect_and_nothing_is_left_unrendered(
        rendered: dict[str, Rendered]) -> None:
    aws = rendered["aws-saas"].files["terraform/README.md"].decode()
    assert "export-client-vpn-client-configuration" in aws and "vpn_endpoints" in aws
    azure = rendered["azure-startup"].files["terraform/README.md"].decode()
    assert "vpn-client generate" in azure and "vpn_dns_servers" in azure
    for text in (aws, azure):
        assert "not rendered as Terraform" not in text
        assert "vpn_saml_provider_arn" in text or "vpn_aad_audience" in text


@pytest.mark.parametrize(("example", "refused", "why"), [
    ("shop", "vpn", "does not build a VPN on gcp"),
    ("azure-startup", "identity-aware-proxy", "does not build identity-aware access on azure"),
])
def test_explain_shows_the_refused_choice_and_why(example: str, refused: str, why: str) -> None:
    outcomes = {o.choice: o for o in app.alternatives(app.load_spec(None, example).loaded,
                                                      "admin_access")}
    assert outcomes[refused].plan is None
    assert why in outcomes[refused].problem
    assert all(o.plan is not None for c, o in outcomes.items() if c != refused)
