"""dns: multi-provider (regulated-payments): Cloudflare DNS is written beside Cloud DNS, by
Terraform (the zone and the static records) and by a second external-dns release (the routes'
names), never proxied, with no credential in the output and no DNSSEC on either side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from . import gitops_support
from .terraform_support import Rendered, render

EXAMPLE = "regulated-payments"


def _u(text: Any) -> Any:
    return text.strip('"') if isinstance(text, str) else text


def _bare(text: str) -> str:
    """A CAA value without the quoting python-hcl2 leaves in place."""
    return text.replace("\\", "").replace('"', "")


def _resources(parsed: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for entry in parsed.get("resource", []):
        for rtype, named in entry.items():
            if _u(rtype) == kind:
                for name, body in named.items():
                    out[_u(name)] = body
    return out


@pytest.fixture(scope="module")
def terraform() -> Rendered:
    return render(EXAMPLE)


@pytest.fixture(scope="module")
def gitops(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("rp-gitops")
    return root, gitops_support.write(gitops_support.example_plan(EXAMPLE), root)


def test_cloudflare_zone_only_in_production_edge(terraform: Rendered) -> None:
    holders = sorted(p for p in terraform.files if p.endswith("dns-cloudflare.tf"))
    assert holders == ["terraform/prod/edge/dns-cloudflare.tf"]
    versions = terraform.tf()["terraform/prod/edge/versions.tf"]
    assert 'source  = "cloudflare/cloudflare"' in versions and '"5.22.0"' in versions
    variables = terraform.tf()["terraform/prod/edge/variables.tf"]
    assert 'variable "cloudflare_account_id"' in variables and "validation" in variables


def test_cloudflare_records_equal_cloud_dns_static_records(terraform: Rendered) -> None:
    parsed = terraform.parsed()
    module = parsed["terraform/prod/edge/dns.tf"]["module"][0]
    zone = next(iter(module.values()))
    assert zone["dnssec_config"]["state"].strip('"') == "off"
    cloud: set[tuple[str, str, str]] = set()
    for recordset in zone["recordsets"]:
        kind, name = _u(recordset["type"]), _u(recordset["name"])
        fqdn = f"{name}.pay.example.eu" if name else "pay.example.eu"
        values = recordset["records"]
        cloud.add((kind, fqdn, str(values) if kind != "CAA" else str(sorted(_bare(v)
                                                                          for v in values))))
    records = _resources(parsed["terraform/prod/edge/dns-cloudflare.tf"], "cloudflare_dns_record")
    assert all(r["proxied"] is False for r in records.values())
    caa = sorted(_bare(f'{r["data"]["flags"]} {r["data"]["tag"]} {r["data"]["value"]}')
                 for r in records.values() if _u(r["type"]) == "CAA")
    flare: set[tuple[str, str, str]] = {("CAA", "pay.example.eu", str(caa))}
    for r in records.values():
        if _u(r["type"]) == "NS":
            # toset(<the same remote name_servers the Cloud DNS NS set lists>)
            flare.add(("NS", _u(r["name"]), r["for_each"].removeprefix("${toset(")
                       .removesuffix(")}").join(("${", "}"))))
    assert flare == cloud
    # The Certificate Manager authorisation answers from both providers.
    cname = records["zone_certificate_authorization"]
    assert "google_certificate_manager_dns_authorization.zone" in cname["content"]
    # No DNSSEC on either side, so no DS delegations and no DS output.
    assert "cloudflare_zone_dnssec" not in terraform.tf()["terraform/prod/edge/dns-cloudflare.tf"]
    assert not any("ds_records" in t for t in terraform.tf().values())


def test_name_servers_of_both_providers_for_the_registrar(terraform: Rendered) -> None:
    outputs = terraform.tf()["terraform/prod/edge/outputs.tf"]
    assert 'output "cloudflare_name_servers"' in outputs
    assert "cloudflare_zone.secondary.name_servers" in outputs
    readme = terraform.files["terraform/README.md"].decode()
    assert "`cloudflare_name_servers`" in readme and "registrar" in readme
    providers = terraform.tf()["terraform/prod/edge/providers.tf"]
    assert 'provider "cloudflare" {' in providers and "api_token" not in providers


def _values(files: dict[str, bytes], cluster: str, addon: str) -> dict[str, Any]:
    return yaml.safe_load(files[f"gitops/clusters/{cluster}/{addon}/values.yaml"])  # type: ignore[no-any-return]


def test_two_external_dns_releases_in_production(gitops: tuple[Path, dict[str, bytes]]) -> None:
    _, files = gitops
    clusters = sorted({p.split("/")[2] for p in files if p.startswith("gitops/clusters/")})
    for cluster in clusters:
        has_second = f"gitops/clusters/{cluster}/external-dns-cloudflare/values.yaml" in files
        assert has_second == cluster.startswith("prod-"), cluster
        if not has_second:
            continue
        first = _values(files, cluster, "external-dns")
        second = _values(files, cluster, "external-dns-cloudflare")
        assert first["provider"]["name"] == "google"
        assert second["provider"]["name"] == "cloudflare"
        assert second["txtOwnerId"] != first["txtOwnerId"]
        assert second["txtPrefix"] != first["txtPrefix"]
        assert second["serviceAccount"]["name"] != first["serviceAccount"]["name"]
        for key in ("sources", "domainFilters", "policy", "registry"):
            assert second[key] == first[key], key
        assert not any("proxied" in a for a in second["extraArgs"])
        token = second["env"][0]["valueFrom"]["secretKeyRef"]
        secret = yaml.safe_load(files[
            f"gitops/clusters/{cluster}/external-dns-cloudflare-token/manifests/external-dns/"
            f"externalsecret-{token['name']}.yaml"])
        assert secret["kind"] == "ExternalSecret"
        assert secret["spec"]["data"][0]["remoteRef"]["key"].endswith("cloudflare-dns-token")


def test_gitops_tree_validates(gitops: tuple[Path, dict[str, bytes]]) -> None:
    root, _ = gitops
    findings = gitops_support.check(root)
    assert not findings, "\n".join(f.render() for f in findings)


def test_no_token_anywhere(terraform: Rendered, gitops: tuple[Path, dict[str, bytes]]) -> None:
    texts = [b.decode() for b in (*terraform.files.values(), *gitops[1].values())]
    for text in texts:
        assert "CF_API_TOKEN:" not in text and "api_token =" not in text
        assert "cloudflare_api_token" not in text


def test_aws_beside_a_second_provider_is_unsigned_and_says_what_is_manual(
        tmp_path: Path) -> None:
    """Route 53 beside Cloudflare: no DNSSEC (one signed side would break validation), no DS
    delegation or output, and the plan warns that the Cloudflare zone is created by hand."""
    from kubeplan.check import terraform as check_terraform

    from .conftest import SHARED_UPSTREAM
    from .terraform_support import write

    data = gitops_support.example_data("aws-saas")
    data["spec"].setdefault("overrides", {})["dns"] = "multi-provider"
    plan = gitops_support.plan_from(data)
    assert any("Cloudflare" in w for w in plan.decision("dns").warnings)
    rendered = render("aws-saas", plan)
    text = {p: d.decode() for p, d in rendered.files.items() if p.endswith(".tf")}
    dns = [t for p, t in text.items() if p.endswith("/edge/dns.tf")]
    assert dns and all("enable_dnssec         = false" in t or "enable_dnssec = false" in t
                       for t in dns), dns[0]
    assert not any('"DS"' in t or "ds_record" in t for t in text.values())
    root = write(rendered, tmp_path)
    findings = check_terraform.check_roots(root, SHARED_UPSTREAM)
    assert not findings, "\n".join(f.render() for f in findings)
