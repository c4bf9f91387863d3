"""A pull-request preview is reachable over HTTPS at its DNS name, followed end to end.

For every example with previews (and, behind Istio's mesh, three of them with mTLS required):
the preview's HTTPRoute, as the GitOps controller deploys it (the service's route with the
preview's patches), attaches to a listener that admits the preview namespace and whose hostname
matches the preview host; the gateway that terminates TLS for it holds a certificate with a name
that covers the host (a TLS wildcard covers exactly one label); the host lies in the zone the
preview cluster's external-dns manages, which is the zone the environment's Terraform creates
and the zone its certificates are validated in (ACME DNS-01, Google DNS authorization, ACM DNS
validation).

Each plan is rendered once per module (GitOps, delivery and Terraform targets, in memory).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeplan.blocks._delivery import render_delivery
from kubeplan.blocks._gitops import render_gitops
from kubeplan.blocks._terraform import render_terraform
from kubeplan.check.terraform import parse
from kubeplan.model import Cluster, Plan
from kubeplan.render import render, render_plan_json
from kubeplan.render.delivery import EXAMPLE_DIR, PREVIEW_TEMPLATE, preview_cluster
from kubeplan.render.gitops.network import (
    GATEWAY_NAMESPACE,
    MESH_GATEWAY_NAMESPACE,
    MESH_GATEWAY_SERVICE,
    PLATFORM_GATEWAY,
    environment_zone,
)
from kubeplan.render.terraform.model import TerraformEnv

from .gitops_support import check, example_data, plan_from

# The examples with previews, and those built again with a mesh behind the edge.
WITH_PREVIEWS = ("shop", "aws-saas", "media-site", "azure-startup")
MESH = ("shop", "aws-saas", "azure-startup")
NUMBER = "42"
NAME_LABEL = "kubernetes.io/metadata.name"


@cache
def _parsed(text: str) -> Any:
    """Each .tf file parsed once (python-hcl2 is slow)."""
    return _unquote(parse(text))


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals quoted."""
    if isinstance(value, str) and len(value) > 1 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Built:
    name: str
    plan: Plan
    files: dict[str, bytes]

    @cached_property
    def cluster(self) -> Cluster:
        return preview_cluster(self.plan)

    @cached_property
    def zone(self) -> str:
        return environment_zone(self.plan, self.cluster.environment)

    @cached_property
    def docs(self) -> list[dict[str, Any]]:
        """The preview cluster's objects."""
        prefix = f"gitops/clusters/{self.cluster.name}/"
        out: list[dict[str, Any]] = []
        for path, data in sorted(self.files.items()):
            if path.startswith(prefix) and path.endswith(".yaml"):
                out += [d for d in yaml.load_all(data, Loader=yaml.CSafeLoader)
                        if isinstance(d, dict) and "kind" in d]
        return out

    def values(self, addon: str) -> dict[str, Any]:
        path = f"gitops/clusters/{self.cluster.name}/{addon}/values.yaml"
        data: dict[str, Any] = yaml.safe_load(self.files[path])
        return data

    def objects(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def gateway(self, namespace: str, name: str) -> dict[str, Any]:
        (found,) = [g for g in self.objects("Gateway")
                    if (g["metadata"]["namespace"], g["metadata"]["name"]) == (namespace, name)]
        return found

    def resources(self, layer: str, file: str) -> dict[str, dict[str, Any]]:
        """`type.name` -> arguments of the preview environment's Terraform resources."""
        path = f"terraform/{self.cluster.environment}/{layer}/{file}.tf"
        out: dict[str, dict[str, Any]] = {}
        for entry in _parsed(self.files[path].decode()).get("resource", []):
            for kind, named in entry.items():
                for name, args in named.items():
                    out[f"{kind}.{name}"] = args
        return out

    def zone_module(self) -> dict[str, Any]:
        path = f"terraform/{self.cluster.environment}/edge/dns.tf"
        for entry in _parsed(self.files[path].decode()).get("module", []):
            if "dns_zone" in entry:
                args: dict[str, Any] = entry["dns_zone"]
                return args
        raise AssertionError(f"no dns_zone module in {path}")


@dataclass(frozen=True)
class Preview:
    host: str
    namespace: str
    labels: dict[str, str]
    route: dict[str, Any]


def _build(name: str, plan: Plan) -> Built:
    tree = render(plan, (render_plan_json, render_gitops, render_delivery, render_terraform))
    return Built(name, plan, dict(tree))


@pytest.fixture(scope="module")
def built() -> dict[str, Built]:
    out: dict[str, Built] = {}
    for name in WITH_PREVIEWS:
        out[name] = _build(name, plan_from(example_data(name)))
    for name in MESH:
        data = example_data(name)
        data["spec"].setdefault("security", {})["mtls"] = "required"
        out[f"{name}+mesh"] = _build(f"{name}+mesh", plan_from(data))
    return out


CASES = (*WITH_PREVIEWS, *(f"{n}+mesh" for n in MESH))


# --- name matching --------------------------------------------------------------------------


def covers(certificate_name: str, host: str) -> bool:
    """TLS (RFC 6125): a wildcard stands for exactly one whole leftmost label."""
    if certificate_name.startswith("*."):
        first, _, rest = host.partition(".")
        return bool(first) and rest == certificate_name[2:]
    return certificate_name == host


def listener_matches(hostname: str | None, host: str) -> bool:
    """Gateway API: a wildcard listener or route hostname matches any number of labels."""
    if hostname is None:
        return True
    if hostname.startswith("*."):
        return host.endswith(hostname[1:])
    return hostname == host


def in_zone(host: str, zone: str) -> bool:
    return host == zone or host.endswith(f".{zone}")


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        present = key in labels
        if (operator == "Exists" and not present) or (operator == "DoesNotExist" and present):
            return False
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
    return True


def admits(listener: dict[str, Any], gateway_namespace: str, namespace: str,
           labels: dict[str, str]) -> bool:
    allowed = (listener.get("allowedRoutes") or {}).get("namespaces") or {"from": "Same"}
    source = allowed.get("from", "Same")
    if source == "All":
        return True
    if source == "Same":
        return namespace == gateway_namespace
    return selects(allowed.get("selector") or {}, {**labels, NAME_LABEL: namespace})


def test_name_matching_helpers() -> None:
    assert covers("*.preview.dev.example.com", "pr-1.preview.dev.example.com")
    assert not covers("*.dev.example.com", "pr-1.preview.dev.example.com")
    assert not covers("*.example.com", "example.com")
    assert listener_matches("*.dev.example.com", "pr-1.preview.dev.example.com")
    assert not listener_matches("*.dev.example.com", "dev.example.com")
    assert selects({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"tier": "x"})
    assert not selects({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {})


# --- the preview as deployed ----------------------------------------------------------------


def _apply(route: dict[str, Any], patch: str) -> None:
    for op in json.loads(patch):
        assert op["op"] == "replace", op
        keys = op["path"].strip("/").split("/")
        target = route
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = op["value"]


def _preview(b: Built) -> Preview:
    decision = b.plan.decision("preview")
    namespace = str(decision.param("namespacePattern")).format(number=NUMBER)
    route: dict[str, Any] = yaml.safe_load(b.files[f"{EXAMPLE_DIR}/deploy/httproute.yaml"])
    if b.plan.choice("gitops") == "argocd":
        (appset,) = [a for a in b.objects("ApplicationSet")
                     if "pullRequest" in a["spec"]["generators"][0]]
        spec = appset["spec"]["template"]["spec"]
        labels = dict(spec["syncPolicy"]["managedNamespaceMetadata"]["labels"])
        patches = [p for p in spec["source"]["kustomize"]["patches"]
                   if p["target"] == {"kind": "HTTPRoute", "name": route["metadata"]["name"]}]
        placeholder = "{{.number}}"
    else:
        text = b.files[PREVIEW_TEMPLATE].decode()
        request = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
        (ns,) = [d for d in request if d["kind"] == "Namespace"]
        labels = dict(ns["metadata"]["labels"])
        (kustomization,) = [d for d in request if d["kind"] == "Kustomization"]
        patches = [p for p in kustomization["spec"]["patches"]
                   if p["target"]["kind"] == "HTTPRoute"]
        placeholder = "${PR_NUMBER}"
    assert len(patches) == 2, "hostname and parent patches"
    for patch in patches:
        _apply(route, patch["patch"].replace(placeholder, NUMBER))
    route["metadata"]["namespace"] = namespace
    (host,) = route["spec"]["hostnames"]
    assert host == str(decision.param("hostPattern")).format(number=NUMBER)
    return Preview(host, namespace, labels, route)


def _listener(gateway: dict[str, Any], section: str) -> dict[str, Any]:
    found = [x for x in gateway["spec"]["listeners"] if x["name"] == section]
    assert len(found) == 1, f"{gateway['metadata']['name']} has no listener {section}"
    return found[0]


def _edge_listener(b: Built, p: Preview) -> dict[str, Any]:
    """The platform Gateway's listener that takes the preview's requests from the internet,
    after checking every hop on the way to the preview's route."""
    edge = b.gateway(GATEWAY_NAMESPACE, PLATFORM_GATEWAY)
    (parent,) = p.route["spec"]["parentRefs"]
    gateway = b.gateway(parent["namespace"], parent["name"])
    listener = _listener(gateway, parent["sectionName"])
    assert admits(listener, parent["namespace"], p.namespace, p.labels), listener
    assert listener_matches(listener.get("hostname"), p.host), listener
    if gateway is edge:
        return listener
    # Behind the mesh: the in-mesh gateway, reached through the edge's route to its Service.
    assert (parent["namespace"], gateway["spec"]["gatewayClassName"]) == (
        MESH_GATEWAY_NAMESPACE, "istio")
    hops = []
    for route in b.objects("HTTPRoute"):
        backends = {(route["metadata"]["namespace"], ref["name"])
                    for rule in route["spec"]["rules"] for ref in rule.get("backendRefs", [])}
        if (MESH_GATEWAY_NAMESPACE, MESH_GATEWAY_SERVICE) not in backends:
            continue
        if not any(listener_matches(h, p.host) for h in route["spec"].get("hostnames") or [None]):
            continue
        for ref in route["spec"]["parentRefs"]:
            if (ref.get("namespace"), ref["name"]) != (GATEWAY_NAMESPACE, PLATFORM_GATEWAY):
                continue
            outer = _listener(edge, ref["sectionName"])
            namespace = route["metadata"]["namespace"]
            if (listener_matches(outer.get("hostname"), p.host)
                    and admits(outer, GATEWAY_NAMESPACE, namespace, {})):
                hops.append(outer)
    assert hops, "no edge listener forwards the preview host to the in-mesh gateway"
    # The most specific matching listener takes the request (Gateway API).
    return max(hops, key=lambda x: len(x.get("hostname") or ""))


@pytest.mark.parametrize("name", CASES)
def test_preview_route_is_admitted_on_its_listener(built: dict[str, Built], name: str) -> None:
    b = built[name]
    p = _preview(b)
    listener = _edge_listener(b, p)
    assert listener["protocol"] == "HTTPS" and listener["port"] == 443
    # Preview namespaces attach to the preview names only: they are admitted by no listener
    # without a hostname (which would let a pull request claim any name).
    for gateway in b.objects("Gateway"):
        namespace = gateway["metadata"]["namespace"]
        for x in gateway["spec"]["listeners"]:
            if admits(x, namespace, p.namespace, p.labels):
                assert x.get("hostname") and listener_matches(x["hostname"], p.host), x
    # The service's own routes never attach to the preview listener.
    for route in b.objects("HTTPRoute"):
        sections = {ref.get("sectionName") for ref in route["spec"]["parentRefs"]}
        if route["metadata"]["namespace"] == "apps":
            assert not any(s and "preview" in s for s in sections), route["metadata"]


def _certificate_names(b: Built, listener: dict[str, Any]) -> list[str]:
    """The names of the certificate that listener serves, wherever it is made."""
    edge = b.gateway(GATEWAY_NAMESPACE, PLATFORM_GATEWAY)
    refs = (listener.get("tls") or {}).get("certificateRefs") or []
    if refs:
        names: list[str] = []
        for ref in refs:
            (certificate,) = [c for c in b.objects("Certificate")
                              if c["metadata"]["namespace"] == GATEWAY_NAMESPACE
                              and c["spec"]["secretName"] == ref["name"]]
            names += certificate["spec"]["dnsNames"]
        return names
    resources = b.resources("edge", "load-balancer")
    certmap = (edge["metadata"].get("annotations") or {}).get("networking.gke.io/certmap")
    if certmap:
        (cmap,) = [k for k, v in resources.items()
                   if k.startswith("google_certificate_manager_certificate_map.")
                   and v["name"] == certmap]
        names = []
        for args in resources.values():
            if args.get("map") != "${" + cmap + ".name}":
                continue
            # An entry serves its hostname with certificates that name it.
            for cert in args["certificates"]:
                managed = resources[cert.removeprefix("${").removesuffix(".id}")]["managed"][0]
                if args["hostname"] in managed["domains"]:
                    names.append(args["hostname"])
        return names
    # ALB: the controller attaches the ACM certificates of the region that cover the
    # listener's hostname.
    assert edge["spec"]["gatewayClassName"] == "alb"
    names = []
    for key, args in resources.items():
        if key.startswith("aws_acm_certificate.") and args["region"] == b.cluster.region:
            candidates = [args["domain_name"], *args.get("subject_alternative_names", [])]
            if any(covers(n, listener["hostname"]) or n == listener["hostname"]
                   for n in candidates):
                names += candidates
    return names


@pytest.mark.parametrize("name", CASES)
def test_preview_host_is_a_name_of_the_serving_certificate(built: dict[str, Built],
                                                            name: str) -> None:
    b = built[name]
    p = _preview(b)
    names = _certificate_names(b, _edge_listener(b, p))
    assert names, "no certificate found for the preview listener"
    assert any(covers(n, p.host) for n in names), (p.host, names)
    # Every certificate name can be validated in the environment's zone.
    assert all(in_zone(n.removeprefix("*."), b.zone) for n in names), names


@pytest.mark.parametrize("name", CASES)
def test_preview_host_is_in_the_zone_external_dns_manages(built: dict[str, Built],
                                                          name: str) -> None:
    b = built[name]
    p = _preview(b)
    values = b.values("external-dns")
    assert values["domainFilters"] == [b.zone]
    assert in_zone(p.host, b.zone)
    # The environment's Terraform creates exactly that zone.
    module = b.zone_module()
    created = module.get("domain", module.get("name"))
    assert str(created).rstrip(".") == b.zone == TerraformEnv(b.plan, b.cluster.environment).zone
    # external-dns publishes the platform Gateway's routes (the public address): the preview
    # route itself, or behind the mesh the edge's route to the in-mesh gateway.
    assert f"--gateway-name={PLATFORM_GATEWAY}" in values["extraArgs"]
    assert f"--gateway-namespace={GATEWAY_NAMESPACE}" in values["extraArgs"]
    published = [r for r in b.objects("HTTPRoute")
                 if any((ref.get("namespace"), ref["name"]) == (GATEWAY_NAMESPACE,
                                                                PLATFORM_GATEWAY)
                        for ref in r["spec"]["parentRefs"])]
    parent = p.route["spec"]["parentRefs"][0]
    direct = (parent["namespace"], parent["name"]) == (GATEWAY_NAMESPACE, PLATFORM_GATEWAY)
    assert direct or any(h == "*." + p.host.split(".", 1)[1]
                         for r in published for h in r["spec"].get("hostnames", [])), \
        "behind the mesh the edge route must publish the preview wildcard"


@pytest.mark.parametrize("name", CASES)
def test_certificates_are_validated_in_the_environment_zone(built: dict[str, Built],
                                                            name: str) -> None:
    b = built[name]
    if b.plan.decision("ingress").parameters.get("certManager"):
        (issuer,) = [i for i in b.objects("ClusterIssuer") if "acme" in i["spec"]]
        (solver,) = issuer["spec"]["acme"]["solvers"]
        assert solver["selector"]["dnsZones"] == [b.zone]
        azure = solver["dns01"].get("azureDNS")
        if azure:
            assert azure["hostedZoneName"] == b.zone
        return
    resources = b.resources("edge", "load-balancer")
    if b.plan.metadata.provider == "gcp":
        authorizations = {k: v for k, v in resources.items()
                          if k.startswith("google_certificate_manager_dns_authorization.")}
        # One authorization per domain (it covers that domain and its wildcard only).
        domains = sorted(v["domain"] for v in authorizations.values())
        assert domains == sorted([b.zone, f"preview.{b.zone}"])
        for key in authorizations:
            (record,) = [r for r in resources.values()
                         if r.get("name") == "${" + key + ".dns_resource_record[0].name}"]
            assert record["managed_zone"] == "${module.dns_zone.name}"
        for key, args in resources.items():
            if key.startswith("google_certificate_manager_certificate."):
                (managed,) = args["managed"]
                auth = {resources[a.removeprefix("${").removesuffix(".id}")]["domain"]
                        for a in managed["dns_authorizations"]}
                for domain in managed["domains"]:
                    assert domain.removeprefix("*.") in auth, (domain, auth)
        return
    for key, args in resources.items():
        if key.startswith("aws_route53_record.") and key.endswith("_validation"):
            assert args["zone_id"] == "${module.dns_zone.id}"


@pytest.mark.parametrize("name", CASES)
def test_preview_decision_agrees_with_the_environment_zone(built: dict[str, Built],
                                                           name: str) -> None:
    b = built[name]
    host = str(b.plan.decision("preview").param("hostPattern"))
    assert host == f"pr-{{number}}.preview.{b.zone}"
    if len(b.plan.metadata.environments) > 1:
        assert b.cluster.environment != b.plan.topology.production
        assert b.zone != b.plan.metadata.domain


def test_only_the_preview_cluster_serves_previews(built: dict[str, Built]) -> None:
    for b in built.values():
        for cluster in b.plan.topology.clusters:
            prefix = f"gitops/clusters/{cluster.name}/"
            text = "".join(data.decode() for path, data in b.files.items()
                           if path.startswith(prefix) and path.endswith(".yaml"))
            serves = "preview." in text
            assert serves == (cluster == b.cluster), (b.name, cluster.name)
        if b.plan.decision("ingress").parameters.get("certManager"):
            continue
        for environment in b.plan.metadata.environments:
            path = f"terraform/{environment}/edge/load-balancer.tf"
            text = b.files[path].decode() if path in b.files else ""
            assert ("preview." in text) == (environment == b.cluster.environment), \
                (b.name, environment)


def test_mesh_preview_tree_passes_the_upstream_interfaces(built: dict[str, Built],
                                                          tmp_path: Path) -> None:
    """The GKE tree behind the mesh (its preview listeners, the in-mesh gateway's overlays and
    the preview egress policy) against the Kubernetes schemas, CRDs and chart values; the ALB
    one is checked in test_gitops_mesh_ingress.py, the examples in test_examples.py."""
    b = built["shop+mesh"]
    for path, data in b.files.items():
        if path == "plan.json" or path.startswith("gitops/"):
            target = tmp_path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    findings = check(tmp_path)
    assert not findings, "\n".join(f.render() for f in findings)
