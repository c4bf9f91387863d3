"""docs/RUNBOOK.md: apply order, GitOps bootstrap, verification and day-2 operations.

The runbook follows the layout conventions every target shares (`render/naming.py`: Terraform
layers per environment, namespaces of the platform components; `render/gitops/addon.py`: the
phases of the GitOps tree) and links only to files this build contains, so it never points at a
folder another target did not write.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubeplan.model import Cluster, Decision, Plan
from kubeplan.render import naming
from kubeplan.render.docs import text
from kubeplan.render.gitops import telemetry
from kubeplan.render.gitops.addon import PHASES

TERRAFORM = "terraform"
GITOPS = "gitops"
# What each Terraform layer holds (TERRAFORM_LAYERS is the order).
LAYER_PURPOSE = {
    "network": "the VPC/VNet per region, node, service and pod ranges, NAT and firewall rules",
    "access": "the administrative access path to the private nodes and control plane",
    "cluster": "the Kubernetes clusters and their node pools",
    "edge": "the DNS zone, certificates, the CDN and the global load balancer",
    "registry": "the container registry and its replication",
    "storage": "buckets and workload identities for backups, logs, traces and metrics",
    "harbor": "Harbor's projects, quotas, retention, robot accounts, webhooks and replication",
}
# What each GitOps phase holds (PHASES is the order).
PHASE_PURPOSE = {
    "namespaces": "namespaces with Pod Security labels, quotas, priority classes, RBAC",
    "crds": "CRD-only charts (Gateway API, Prometheus Operator CRDs, ...)",
    "core": "CNI, mesh and policy engines, cert-manager, External Secrets, storage",
    "platform": "gateway, external-dns, metrics, logging, tracing, backup, registry",
    "config": "custom resources configuring the above (issuers, secret stores, rules)",
    "apps": "application namespaces and preview environments",
}
PIPELINES = (".github/workflows/platform.yml", ".gitlab-ci.yml")
CREDENTIALS = {
    "gcp": "`gcloud auth login` and `gcloud auth application-default login` with an account "
           "allowed in each environment's project",
    "aws": "`aws sso login` (or another short-lived session) for each environment's account",
    "azure": "`az login` with access to each environment's subscription",
    "onprem": "SSH access to the site's servers through the admin access path",
}


def _present(paths: Sequence[str], prefix: str) -> bool:
    return any(p.startswith(prefix.rstrip("/") + "/") for p in paths)


def _ordered_environments(plan: Plan) -> list[str]:
    """Every environment before production: a change is proven before it meets users."""
    prod = plan.topology.production
    return [e for e in plan.metadata.environments if e != prod] + [prod]


def _decision(plan: Plan, block: str) -> Decision | None:
    return next((d for d in plan.decisions if d.block == block), None)


def _choice(plan: Plan, block: str) -> str:
    decision = _decision(plan, block)
    return decision.choice if decision is not None else ""


def _param(plan: Plan, block: str, key: str, default: object = "") -> object:
    decision = _decision(plan, block)
    return decision.parameters.get(key, default) if decision is not None else default


def layout(plan: Plan, paths: Sequence[str]) -> list[str]:
    tops: dict[str, int] = {}
    for path in paths:
        top = path.split("/", 1)[0] if "/" in path else path
        tops[top] = tops.get(top, 0) + 1
    described = {
        TERRAFORM: "Terraform root modules, one per environment and layer",
        GITOPS: "the GitOps tree, one folder per cluster",
        "delivery": "the service pipeline template, an example service and the releases per "
                    "environment",
        ".github": "the platform pipeline (GitHub Actions)",
        ".gitlab-ci.yml": "the platform pipeline (GitLab CI)",
        "docs": "these documents, the diagram and the decision records",
        "plan.json": "the plan every file was rendered from",
    }
    rows = [(f"`{top}`", count, described.get(top, "")) for top, count in sorted(tops.items())]
    return text.table(("path", "files", "what"), rows)


def _after_gitops(plan: Plan, paths: Sequence[str]) -> list[str]:
    """Root modules applied once the GitOps sync runs what they configure (Harbor's API)."""
    return [f"{TERRAFORM}/{env}/{layer}" for env in _ordered_environments(plan)
            for layer in naming.AFTER_GITOPS_LAYERS
            if _present(paths, f"{TERRAFORM}/{env}/{layer}")]


def terraform_steps(plan: Plan, paths: Sequence[str]) -> list[str]:
    after = _after_gitops(plan, paths)
    if not any(p.startswith(f"{TERRAFORM}/") and not any(p.startswith(f"{a}/") for a in after)
               for p in paths):
        if plan.metadata.provider == "onprem":
            harbor = (" Terraform only configures Harbor, once the GitOps sync runs it (section "
                      "2)." if after else "")
            return ["This build holds no infrastructure Terraform: on-prem machines, VLANs and "
                    "the perimeter firewall are prepared by the site team (see the kubeadm path "
                    "below)." + harbor]
        return ["This build holds no Terraform root modules (`terraform/` is absent), so the "
                "cloud resources below must exist before the GitOps bootstrap."]
    lines = [f"Log in first: {CREDENTIALS.get(plan.metadata.provider, '')}. Then apply every "
             "layer of an environment in order, environments before production last:", ""]
    pipeline = next((p for p in PIPELINES if p in paths), None)
    if pipeline is not None:
        lines[0] = (f"The platform pipeline [`{pipeline}`](../{pipeline}) plans every layer "
                    "and applies them in this order once a change is merged; by hand, log in "
                    f"first ({CREDENTIALS.get(plan.metadata.provider, '')}), then apply every "
                    "layer of an environment in order, production last:")
    bootstrap = f"{TERRAFORM}/bootstrap"
    if _present(paths, bootstrap):
        lines += [f"0. Once per platform: `{bootstrap}/` creates the bucket that holds every "
                  "layer's state.", "", "   ```sh",
                  f"   terraform -chdir={bootstrap} init",
                  f"   terraform -chdir={bootstrap} apply", "   ```", ""]
    rows = []
    step = 1
    for env in _ordered_environments(plan):
        for layer in naming.TERRAFORM_LAYERS:
            folder = f"{TERRAFORM}/{env}/{layer}"
            if _present(paths, folder) and folder not in after:
                rows.append((step, f"`{folder}/`", LAYER_PURPOSE.get(layer, "")))
                step += 1
    lines += text.table(("step", "root module", "creates"), rows)
    lines += ["", "For each root module, review the plan before applying it:", "", "```sh",
              "terraform -chdir=<root module> init",
              "terraform -chdir=<root module> plan -out=tfplan",
              "terraform -chdir=<root module> apply tfplan", "```", "",
              "A later layer reads the earlier layers' outputs from their state, so the order "
              "matters; re-applying an unchanged layer is a no-op."]
    return lines


def kubeadm_steps(plan: Plan, paths: Sequence[str]) -> list[str]:
    version = plan.metadata.kubernetes_version
    network = _decision(plan, "network")
    cni = _choice(plan, "network_policy")
    kubeadm_files = sorted(p for p in paths if "kubeadm" in p)
    lines = [
        f"The clusters are self-managed (kubeadm, Kubernetes {version}). Per cluster, in the "
        "order of the environments above:", "",
        "1. Prepare the machines: three control-plane nodes and the worker nodes sized in "
        "[COST.md](COST.md), a supported Linux with containerd, swap off, and kubeadm, kubelet "
        f"and kubectl {version}. Give the API server a stable virtual IP or DNS name in front "
        "of the three control-plane nodes.",
        "2. `kubeadm init --config <file> --upload-certs` on the first control-plane node, "
        "with encryption at rest for Secrets (an `EncryptionConfiguration` passed to the API "
        "server) and the cluster's service and pod ranges"
        + (f" ({_ranges(network, plan)})" if network is not None else "") + ".",
        "3. Join the other two control-plane nodes with `kubeadm join ... --control-plane "
        "--certificate-key <key>`, then the workers with `kubeadm join`.",
        f"4. Install the CNI ({cni or 'the network_policy block’s choice'}) before anything "
        "else schedules pods; the GitOps tree then adopts it with the same values.",
        "5. Continue with the GitOps bootstrap; it also schedules the etcd snapshots (see "
        "day 2).",
    ]
    if kubeadm_files:
        lines += ["", "This build's kubeadm files:", ""] + [f"- [{p}](../{p})"
                                                             for p in kubeadm_files]
    return lines


def _go_days(duration: str) -> str:
    """Velero's `720h0m0s` as `30 days` (whole hours otherwise)."""
    hours = int(duration.split("h", 1)[0]) if "h" in duration else 0
    return f"{hours // 24} days" if hours and hours % 24 == 0 else duration


def _ranges(network: Decision, plan: Plan) -> str:
    parts = []
    for region in plan.topology.regions:
        service = network.parameters.get(f"serviceCidr.{region}")
        pod = network.parameters.get(f"podCidr.{region}")
        if service and pod:
            parts.append(f"{region}: services {service}, pods {pod}")
    return "; ".join(parts)


def gitops_steps(plan: Plan, paths: Sequence[str]) -> list[str]:
    tool = _choice(plan, "gitops")
    lines = ["Each cluster reconciles its own folder of the GitOps repository. Bootstrap one "
             "cluster at a time, production last, from a shell that reaches the cluster's "
             "private API endpoint through the admin access path:", ""]
    rows = []
    for cluster in clusters_in_order(plan):
        folder = f"{GITOPS}/clusters/{cluster.name}"
        where = f"[`{folder}/`](../{folder}/)" if _present(paths, folder) else "(not in this build)"
        readme = f"{folder}/README.md"
        steps = f"[README.md](../{readme})" if readme in paths else ""
        rows.append((f"`{cluster.name}`", cluster.environment, cluster.region, where, steps))
    lines += text.table(("cluster", "environment", "region", "folder", "exact commands"), rows)
    lines += [""]
    if tool == "argocd":
        lines += ["Argo CD: install the controller once with Helm from the cluster's "
                  "`argo-cd/values.yaml`, give it read access to the GitOps repository, create "
                  "the cluster's Argo CD Secret annotated with the environment's Terraform "
                  "`platform_outputs` (where the tree needs values only the cloud knows), then "
                  "apply `applications/project.yaml` and `applications/root.yaml`; from then on "
                  "the root manages every other Application, Argo CD included, and fills the "
                  "platform outputs in."]
    elif tool == "flux":
        lines += ["Flux: install the Flux controllers once with Helm from the cluster's "
                  "`flux2/values.yaml`, create the GitRepository credentials for the GitOps "
                  "repository (read-only deploy key) and the `platform-outputs` ConfigMap from "
                  "the environment's Terraform `platform_outputs` (where the tree needs values "
                  "only the cloud knows), then apply the cluster's `flux/sync.yaml`; Flux then "
                  "reconciles every phase in order."]
    secrets = _decision(plan, "secrets")
    if secrets is not None and secrets.parameters.get("secretStoreProvider") == "vault":
        lines += ["", "Vault: every entry the tree's ExternalSecrets name (`kubectl get "
                  "externalsecrets -A` lists them; `<platform>-<environment>-<item>`) is a KV "
                  "version 2 secret in the `platform` mount holding its value under the key "
                  f"`{telemetry.VAULT_PROPERTY}`: `vault kv put platform/<entry> "
                  f"{telemetry.VAULT_PROPERTY}=...`."]
    lines += ["", "The tree is applied in phases; a phase is healthy before the next starts:", ""]
    lines += text.table(("order", "phase", "holds"),
                        [(rank, f"`{phase}`", PHASE_PURPOSE.get(phase, ""))
                         for phase, rank in sorted(PHASES.items(), key=lambda kv: kv[1])])
    steps = next((f"[{p}](../{p})" for p in (f"{TERRAFORM}/README.md", "onprem/README.md")
                  if p in paths), "the Terraform runbook")
    for folder in _after_gitops(plan, paths):
        layer = folder.rsplit("/", 1)[1]
        lines += ["", f"Once the sync runs Harbor, apply `{folder}/` "
                      f"({LAYER_PURPOSE.get(layer, '')}) with `terraform init` and "
                      f"`terraform apply`; its credentials and inputs are listed in {steps}."]
    return lines


def verification(plan: Plan) -> list[str]:
    domain = plan.metadata.domain
    ns = naming.WORKLOADS
    gitops = _choice(plan, "gitops")
    pools = {p.cluster: p for p in plan.cost.node_pools}
    lines = ["Run these against each cluster after its bootstrap, and against production after "
             "every release of the platform:", ""]
    nodes = ", ".join(f"{name}: {pool.nodes}" for name, pool in pools.items())
    checks: list[tuple[str, str, str]] = [
        ("the tree is valid", "`kubeplan check <this folder>`", "no findings"),
        ("nodes are up", "`kubectl get nodes`", f"every node Ready (sized: {nodes})"),
    ]
    if gitops == "argocd":
        checks.append(("GitOps converged", "`kubectl -n argocd get applications`",
                       "every Application Synced and Healthy"))
    elif gitops == "flux":
        checks.append(("GitOps converged", "`flux get kustomizations -A` and "
                       "`flux get helmreleases -A`", "every object Ready"))
    checks += [
        ("the gateway is programmed", "`kubectl get gateway -A`", "PROGRAMMED True"),
        ("DNS answers", f"`dig +short {domain}`", "the load balancer's address"),
        ("the site answers over TLS", f"`curl -sSI https://{domain}/`",
         "a response with a valid certificate"),
    ]
    if any(d.parameters.get("certManager") for d in plan.decisions if d.block == "ingress"):
        checks.append(("certificates are issued", "`kubectl get certificate -A`", "READY True"))
    if _choice(plan, "policy") == "kyverno":
        checks.append(("admission policy is enforced", "`kubectl run probe "
                       "--image=docker.io/library/busybox -n " + naming.APP_NAMESPACE + "`",
                       "refused (not signed by the platform's CI)"
                       if _param(plan, "policy", "verifyImages", False)
                       else "refused by the restricted Pod Security profile"))
    checks += [
        ("secrets sync", "`kubectl get clustersecretstore,externalsecret -A`",
         "Ready / SecretSynced"),
        ("metrics are scraped", f"Prometheus in `{ns['thanos'].namespace}`: the query "
         "`up == 0`", "no result"),
        ("alerts reach people", "`amtool alert add kubeplan_drill severity=warning` against "
         "Alertmanager", "the alert arrives at every receiver in the spec"),
    ]
    logs_ui = {"loki": "Grafana Explore on Loki", "elasticsearch": "Kibana",
               "provider": "the provider's log explorer"}.get(_choice(plan, "logging"))
    if logs_ui:
        checks.append(("logs arrive", f"{logs_ui}: the last five minutes of `kube-system`",
                       "recent lines"))
    traces_ui = {"tempo": "Grafana Explore on Tempo", "jaeger": "the Jaeger UI"}.get(
        _choice(plan, "tracing"))
    if traces_ui:
        checks.append(("traces arrive", f"a request through the gateway, then its trace in "
                       f"{traces_ui}", "the trace with its spans"))
    if _choice(plan, "backup"):
        checks.append(("backups run", f"`velero -n {ns['velero'].namespace} backup-location get` "
                       f"and `velero -n {ns['velero'].namespace} schedule get`",
                       "Available, with the schedule below"))
    lines += text.table(("check", "how", "expect"), checks)
    return lines


def etcd_snapshots(plan: Plan, backup: Decision) -> list[str]:
    """The etcd snapshot CronJob: where snapshots go, the key to read them, what alerts."""
    envs = plan.metadata.environments
    buckets = ", ".join(f"`{naming.bucket(plan, e, 'etcd')}`" for e in envs)
    item = telemetry.ETCD_SNAPSHOT_KEY_ITEM
    keys = ", ".join(f"`{telemetry.remote_key(plan, plan.topology.clusters_in(e)[0], item)}`"
                     for e in envs)
    return [
        f"etcd snapshots run at cron `{backup.parameters.get('etcdSnapshotSchedule', '')}` as "
        f"the CronJob `{telemetry.ETCD_BACKUP}/etcd-snapshot` on one control-plane node per "
        "cluster: `etcdctl snapshot save`, encrypted client-side by rclone's crypt remote, "
        f"uploaded under the cluster's name to the environment's etcd bucket ({buckets}) on "
        "the site's Ceph RGW, and pruned after the Velero TTL. The passphrase is read from the "
        f"secret store entry per environment ({keys}): a long random string, with a copy kept "
        "offline, since no snapshot can be read without it. The alert `EtcdSnapshotTooOld` "
        "fires when no run has succeeded for two periods (or none ever did); "
        f"`kubectl -n {telemetry.ETCD_BACKUP} get jobs` and the logs of the `snapshot` and "
        "`upload` containers of the latest job say why.",
    ]


def day_two(plan: Plan, paths: Sequence[str]) -> list[str]:
    provider = plan.metadata.provider
    self_managed = _choice(plan, "cluster") == "self-managed"
    version = plan.metadata.kubernetes_version
    channel = _param(plan, "cluster", "upgradeChannel", "regular")
    velero_ns = naming.WORKLOADS["velero"].namespace
    spec = plan.inputs.get("availability", {})
    lines = ["### Upgrades", ""]
    if self_managed:
        lines += [f"Kubernetes {version} is set by `spec.kubernetesVersion`. To move one minor "
                  "version: bump it in `platform.yaml`, rebuild, then per cluster run "
                  "`kubeadm upgrade plan` and `kubeadm upgrade apply v<version>` on the first "
                  "control-plane node, `kubeadm upgrade node` on the others, then drain, "
                  "upgrade kubelet and uncordon one worker at a time. Never skip a minor "
                  "version."]
    else:
        lines += [f"Kubernetes {version} is set by `spec.kubernetesVersion` (upgrade channel "
                  f"`{channel}`). Bump it in `platform.yaml`, rebuild, review "
                  "`kubeplan build --dry-run`, then apply the `cluster` layer environment by "
                  "environment, production last and one production region at a time; the "
                  "provider upgrades the control plane first, then the node pools with surge "
                  "nodes. Never skip a minor version."]
    lines += ["", "Add-on versions are pinned in kubeplan's catalogue; a newer kubeplan brings "
              "newer pins. Rebuild, read the diff of the GitOps tree, merge it: each cluster "
              "rolls the change out phase by phase, non-production clusters first when their "
              "branches are merged first.", "", "### Backups and the restore drill", ""]
    backup = _decision(plan, "backup")
    if backup is not None:
        schedule = backup.parameters.get("schedule", "")
        ttl = backup.parameters.get("ttl", "")
        lines += [f"Velero backs up every cluster at cron `{schedule}` and keeps each backup "
                  f"{_go_days(str(ttl))} (`ttl` {ttl}; spec.availability: RPO "
                  f"{spec.get('rpo', '?')}, RTO {spec.get('rto', '?')})."]
        if backup.choice == "velero-etcd":
            lines += ["", *etcd_snapshots(plan, backup)]
        lines += ["", "Once a month, prove a restore in a scratch namespace and time it "
                  "against the RTO:", "", "```sh",
                  f"velero -n {velero_ns} backup get",
                  f"velero -n {velero_ns} restore create drill --from-backup <latest> "
                  f"--namespace-mappings {naming.APP_NAMESPACE}:{naming.APP_NAMESPACE}-drill",
                  f"velero -n {velero_ns} restore describe drill",
                  f"kubectl delete namespace {naming.APP_NAMESPACE}-drill", "```"]
        if backup.choice == "velero-etcd":
            lines += ["", "Once a quarter, restore an etcd snapshot on a spare control-plane "
                      "machine: fetch the newest with rclone set up like the CronJob's "
                      "`upload` container (its `RCLONE_CONFIG_*` variables, the bucket's S3 "
                      "keys and the passphrase through `rclone obscure`): `rclone lsl sealed:`, "
                      "then `rclone copy sealed:<snapshot> .`; `etcdutl snapshot restore` it "
                      "and start a single-node control plane from it: a snapshot never "
                      "restored is not a backup."]
    topology = _choice(plan, "topology")
    site = "site" if provider == "onprem" else "region"
    if topology == "multi-region-active-passive":
        lines += ["", f"Rehearse a failover to the standby {site} as well: scale it up, shift "
                  "the load balancer's traffic to it, check the verification list, then fail "
                  "back. It must fit in the RTO."]
    elif topology == "multi-region-active-active":
        lines += ["", f"Every production {site} is sized to carry the whole peak; rehearse "
                  f"losing one by taking its backend out of the load balancer."]
    lines += ["", "### Certificate renewal", ""]
    tls = str(_param(plan, "load_balancer", "tlsTermination", ""))
    where = f"Public TLS terminates at the {tls or 'gateway'}. "
    if any(d.parameters.get("certManager") for d in plan.decisions if d.block == "ingress"):
        lines += [where + "cert-manager renews the gateway's certificates before they expire; "
                  "check `kubectl get certificate -A` (READY, and the renewal time) after each "
                  "release and when an expiry alert fires."]
    else:
        lines += [where + "The provider renews its managed certificates itself; check their "
                  "status after a domain or DNS change, since renewal needs the DNS records to "
                  "still point at the load balancer."]
    if self_managed:
        lines += ["", "kubeadm's control-plane certificates last one year and are renewed by "
                  "every `kubeadm upgrade`; if a year passes without one, run "
                  "`kubeadm certs check-expiration` and `kubeadm certs renew all`, then restart "
                  "the control-plane static pods."]
    if _choice(plan, "admin_access") == "vpn":
        if provider == "onprem":
            lines += ["", "Rotate the WireGuard keys of the admin access path when someone "
                      "leaves and at least yearly."]
        else:
            lines += ["", "VPN sign-in goes through the identity provider: remove a leaver from "
                      "the administrator groups the VPN authorises, and renew the VPN's server "
                      "certificate before it expires."]
    lines += ["", "### Node patching", ""]
    patching = {
        "gcp": "GKE node auto-upgrade and auto-repair replace nodes with patched images within "
               "the release channel's maintenance windows, surging one node at a time.",
        "aws": "EKS managed node groups move to the latest AMI release when the `cluster` "
               "layer's node-group version is updated; nodes are replaced with surge and "
               "drained respecting PodDisruptionBudgets.",
        "azure": "AKS applies node image upgrades through its node OS upgrade channel within "
                 "the maintenance window, surging and draining nodes.",
        "onprem": "Unattended security updates install on each node; kured reboots one node "
                  "at a time when a reboot is required, draining it first.",
    }
    lines += [patching["onprem"] if self_managed else patching.get(provider, "")]
    lines += ["", "Two replicas per production service and PodDisruptionBudgets keep services "
              "up while a node drains; watch the gateway's error rate during a patch wave."]
    lines += ["", "### Releasing services", ""]
    lines += [("Services are released by the CI pipeline and promoted environment by "
               "environment through the GitOps repository; "
               + ("[delivery/README.md](../delivery/README.md) has the stages, gates and CI "
                  "settings." if "delivery/README.md" in paths else
                  "the pipeline builds, scans, signs and pushes the image, then proposes the "
                  "new version in the GitOps repository."))]
    receivers = plan.inputs.get("observability", {}).get("alertReceivers", [])
    if receivers:
        kinds = text.sentence_list(sorted({str(r.get("type")) for r in receivers}))
        lines += ["", "### When an alert fires", "",
                  f"Alertmanager routes to {kinds} (spec.observability.alertReceivers). Start "
                  "from the error budget in [SLO.md](SLO.md): a fast burn pages, a slow one "
                  "is a ticket."]
    return lines


def render(plan: Plan, paths: Sequence[str]) -> str:
    self_managed = _choice(plan, "cluster") == "self-managed"
    lines = [f"# {plan.metadata.name}: runbook", "", text.GENERATED, "",
             "Order of work: create the infrastructure, bootstrap GitOps in each cluster, "
             "verify, then operate. Environments go first to last, production last: "
             + " → ".join(f"`{e}`" for e in _ordered_environments(plan)) + ".", "",
             "## This build", ""]
    lines += layout(plan, paths)
    lines += ["", "## 1. Infrastructure", "", *terraform_steps(plan, paths)]
    if self_managed:
        lines += ["", "### The kubeadm path", "", *kubeadm_steps(plan, paths)]
    lines += ["", "## 2. Bootstrap GitOps", "", *gitops_steps(plan, paths)]
    lines += ["", "## 3. Verify", "", *verification(plan)]
    lines += ["", "## 4. Day 2", "", *day_two(plan, paths)]
    return text.join(lines)


def clusters_in_order(plan: Plan) -> list[Cluster]:
    return [c for env in _ordered_environments(plan) for c in plan.topology.clusters_in(env)]
