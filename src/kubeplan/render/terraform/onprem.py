"""On-prem equivalents of the cloud layers (provider onprem), written under `onprem/`.

    onprem/<environment>/<cluster>/kubeadm.yaml            ClusterConfiguration, InitConfiguration,
                                                           KubeletConfiguration
    onprem/<environment>/<cluster>/encryption-config.yaml  secrets at rest through a KMS v2 plugin
    onprem/<environment>/<cluster>/audit-policy.yaml       API server audit policy
    onprem/dns/<zone>.zone, onprem/dns/named.conf.local    the platform's BIND zone
    onprem/README.md                                       order of work

MetalLB pools and the etcd snapshot CronJob live in the GitOps tree. The serialiser here turns
data into zone files; the Kubernetes-style files go through the YAML serialiser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network

from kubeplan.errors import RenderError
from kubeplan.model import Plan
from kubeplan.render.terraform.model import Contributor, TerraformEnv
from kubeplan.render.tree import OutputTree

ROOT = "onprem"
DNS = "dns"
# Where operators put what the output never contains (keys, credentials), on every node.
OPERATOR_FILES = "/etc/kubeplan"


# --- addressing ---------------------------------------------------------------------------------


def environment_index(env: TerraformEnv) -> int:
    return env.plan.metadata.environments.index(env.environment)


def api_address(env: TerraformEnv, region: str) -> str:
    """The control plane's virtual IP: host 10 + the environment's index in the node range
    (environments share a site's node range; kube-vip or the site's load balancer holds it)."""
    return str(IPv4Network(env.network("node", region))[10 + environment_index(env)])


def gateway_address(env: TerraformEnv, region: str) -> str:
    """The gateway's address: host 1 + the environment's index in the edge range, which MetalLB
    announces (its pool is the edge range)."""
    return str(IPv4Network(env.network("edge", region))[1 + environment_index(env)])


def _site(plan: Plan, kind: str) -> IPv4Network:
    """A range of the first site (region) of the plan."""
    region = plan.topology.regions[0]
    return IPv4Network(str(plan.decision("network").param(f"{kind}Cidr.{region}")))


def dns_primary_address(plan: Plan) -> str:
    """The hidden primary BIND server (`naming.dns_primary`): host 52 of the first site's edge
    range, next to the public secondaries."""
    return str(_site(plan, "edge")[52])


def vault_address(plan: Plan) -> str:
    """Vault's virtual IP (`naming.vault_address`; three Raft nodes outside the clusters):
    host 20 of the first site's node range, above the control-plane VIPs."""
    return str(_site(plan, "node")[20])


def name_server_address(plan: Plan, index: int) -> str:
    """Authoritative servers: host 53 of the edge range of the first two sites (two hosts of the
    first site when there is only one)."""
    regions = plan.topology.regions
    network = plan.decision("network")
    if len(regions) > 1:
        return str(IPv4Network(str(network.param(f"edgeCidr.{regions[index]}")))[53])
    return str(IPv4Network(str(network.param(f"edgeCidr.{regions[0]}")))[53 + index])


# --- serialisers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    name: str  # relative to the origin; "@" for the apex
    type: str
    data: str
    comment: str = ""


def zone_file(origin: str, ttl: int, soa: tuple[str, str, int, int, int, int, int],
              records: Sequence[Record]) -> str:
    """A BIND zone file: $ORIGIN, $TTL, SOA, then the records in the given order."""
    primary, contact, serial, refresh, retry, expire, negative = soa
    width = max([len(r.name) for r in records] + [1])
    lines = [f"$ORIGIN {origin}.", f"$TTL {ttl}",
             f"@ IN SOA {primary} {contact} ( {serial} {refresh} {retry} {expire} {negative} )"]
    for record in records:
        line = f"{record.name.ljust(width)} IN {record.type.ljust(5)} {record.data}"
        lines.append(f"{line} ; {record.comment}" if record.comment else line)
    return "\n".join(lines) + "\n"


# --- composition ---------------------------------------------------------------------------------


def render(plan: Plan, tree: OutputTree, contributors: Sequence[Contributor]) -> None:
    files: dict[str, str] = {}
    notes: list[str] = []
    for environment in plan.metadata.environments:
        env = TerraformEnv(plan, environment)
        for contribute in contributors:
            for part in contribute(env):
                notes += [n for n in part.notes if n not in notes]
                for path, text in part.files.items():
                    if path in files and files[path] != text:
                        raise RenderError(f"two contributions write {ROOT}/{path} differently")
                    files[path] = text
    for path, text in sorted(files.items()):
        tree.add(f"{ROOT}/{path}", text)
    tree.add(f"{ROOT}/README.md", readme(plan, notes))


def readme(plan: Plan, notes: Sequence[str] = ()) -> str:
    envs = list(plan.metadata.environments)
    lines = [
        f"# On-prem runbook: {plan.metadata.name}",
        "",
        "Generated by kubeplan from `platform.yaml`. No cloud Terraform: these files are what a "
        "self-managed platform needs outside the clusters. Nothing here holds a key or a "
        f"password; the operator provides them under `{OPERATOR_FILES}/` on each node.",
        "",
        "## 1. DNS",
        "",
        f"Load `{DNS}/{plan.metadata.domain}.zone` on the hidden primary (include "
        f"`{DNS}/named.conf.local` in its named.conf); the TSIG key external-dns signs its RFC 2136 "
        f"updates with is read from `{OPERATOR_FILES}/bind/external-dns.key`. Check it with "
        "`named-checkzone` before reloading.",
        "",
        "## 2. Control planes",
        "",
        "On every control-plane node, before `kubeadm init`/`join`:",
        "",
        "- copy `encryption-config.yaml` to `/etc/kubernetes/encryption/config.yaml` and run a "
        "KMS v2 plugin listening on `/var/run/kmsplugin/socket.sock` (the site HSM's or Vault's "
        f"plugin); its credentials come from `{OPERATOR_FILES}/kms/`, so no key material is ever "
        "in this repository;",
        "- copy `audit-policy.yaml` to `/etc/kubernetes/audit/policy.yaml`;",
        "- give the control-plane VIP (the `api.<cluster>` record) to kube-vip or the site load "
        "balancer.",
        "",
        "Then on the first node `kubeadm init --config kubeadm.yaml --upload-certs`, and on the "
        "others the `kubeadm join ... --control-plane` command it prints (its token and "
        "certificate key are short-lived secrets: never commit them).",
        "",
        "## 3. GitOps",
        "",
        "Bootstrap the GitOps engine on each cluster; MetalLB, storage, backups (Velero and the "
        "etcd snapshot CronJob) and the rest come from the GitOps tree. Environments: "
        + ", ".join(envs) + ".",
        "",
    ]
    if notes:
        lines += ["## 4. Steps and limits to know", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(lines)


__all__ = ["Record", "render", "zone_file"]
