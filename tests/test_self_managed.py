"""Self-managed clusters: refused in a cloud (kubeplan renders kubeadm for provider onprem only),
and on-prem exactly one etcd snapshot mechanism, the GitOps CronJob, whose failure pages.

The factory-onprem build is shared with the docs tests (`docs_support.built`, once per session);
the alert is proven with promtool against synthetic kube-state-metrics series.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeplan import app
from kubeplan.blocks.backup import gitops as backup_gitops
from kubeplan.cli import main
from kubeplan.model import Plan
from kubeplan.render import naming
from kubeplan.render.gitops import telemetry

from .conftest import spec_with
from .docs_support import built
from .observability_support import edited

EXAMPLE = "factory-onprem"
CLOUDS = {"gcp": ("europe-west1", "GKE"), "aws": ("eu-west-1", "EKS"),
          "azure": ("westeurope", "AKS")}


# --- task 1: self-managed clusters only on-prem ------------------------------------------------

def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("provider", sorted(CLOUDS))
@pytest.mark.parametrize("how", ["field", "override"])
def test_self_managed_in_a_cloud_is_refused_at_the_field(
        provider: str, how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    region, product = CLOUDS[provider]
    ask = ({"operations": {"kubernetes": "self-managed", "dedicatedPlatformTeam": True}}
           if how == "field" else {"overrides": {"cluster": "self-managed"}})
    spec = tmp_path / "platform.yaml"
    text = yaml.safe_dump(spec_with({"provider": provider, "regions": [region], **ask}),
                          sort_keys=False)
    spec.write_text(text)
    assert main(["build", str(spec), "-o", str(tmp_path / "out")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "out").exists(), "nothing is built"
    field = "spec.operations.kubernetes" if how == "field" else "spec.overrides.cluster"
    line = _line_of(text, "kubernetes: self-managed" if how == "field" else "cluster: ")
    assert f"{spec}:{line}:" in err, "located at the field that asks for it"
    assert f"contradiction between {field} and spec.provider" in err
    assert "renders self-managed (kubeadm) clusters only for provider onprem" in err
    assert f"on {provider} the build would contain no control plane and no nodes" in err
    assert f"use managed clusters on {provider} ({product})" in err
    assert "set spec.provider: onprem to build kubeadm clusters on your own machines" in err


def test_explain_shows_self_managed_as_impossible_in_a_cloud() -> None:
    outcomes = {o.choice: o for o in app.alternatives(app.load_spec(None, "shop").loaded,
                                                      "cluster")}
    assert outcomes["self-managed"].plan is None
    assert "only for provider onprem" in outcomes["self-managed"].problem


def test_the_record_says_where_self_managed_is_rendered() -> None:
    plan = app.plan(app.load_spec(None, "shop").loaded)
    alternative = next(a for a in plan.decision("cluster").alternatives
                       if a.choice == "self-managed")
    assert "provider onprem only" in alternative.tradeoff
    assert "runs anywhere" not in alternative.tradeoff


# --- task 2: one etcd snapshot mechanism, the CronJob --------------------------------------------

def _docs(text: bytes) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def _cronjobs(plan: Plan) -> dict[str, dict[str, Any]]:
    tree = built(EXAMPLE).tree
    out = {}
    for cluster in plan.topology.clusters:
        path = (f"gitops/clusters/{cluster.name}/etcd-snapshot/manifests/"
                f"{telemetry.ETCD_BACKUP}/cronjob-etcd-snapshot.yaml")
        out[cluster.name] = _docs(tree.get(path))[0]
    return out


def _pod(cronjob: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pod


def test_one_etcd_snapshot_mechanism_per_cluster() -> None:
    b = built(EXAMPLE)
    assert b.plan.choice("backup") == "velero-etcd"
    paths = b.tree.paths()
    assert not [p for p in paths if p.startswith("onprem/") and "etcd" in p]
    onprem_text = "\n".join(b.tree.get(p).decode() for p in paths if p.startswith("onprem/"))
    for gone in ("[Timer]", "OnCalendar", "etcdctl", "etcd-backup.env", "age --encrypt"):
        assert gone not in onprem_text
    readme = b.tree.get("onprem/README.md").decode()
    assert "etcd snapshot CronJob" in readme
    cronjobs = [p for p in paths if p.endswith("/cronjob-etcd-snapshot.yaml")]
    assert sorted(cronjobs) == sorted(
        f"gitops/clusters/{c.name}/etcd-snapshot/manifests/{telemetry.ETCD_BACKUP}/"
        "cronjob-etcd-snapshot.yaml" for c in b.plan.topology.clusters)


def test_the_cronjob_sees_three_host_files_and_no_key_of_a_ca() -> None:
    plan = built(EXAMPLE).plan
    for cronjob in _cronjobs(plan).values():
        pod = _pod(cronjob)
        host = {v["hostPath"]["path"]: v["hostPath"]["type"] for v in pod["volumes"]
                if "hostPath" in v}
        assert host == {"/etc/kubernetes/pki/etcd/ca.crt": "File",
                        "/etc/kubernetes/pki/etcd/healthcheck-client.crt": "File",
                        "/etc/kubernetes/pki/etcd/healthcheck-client.key": "File"}
        assert pod["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
        assert pod["automountServiceAccountToken"] is False
        (upload,) = pod["containers"]
        assert not [m for m in upload["volumeMounts"]
                    if m["name"] not in ("snapshot", "tmp")], "the uploader sees no host file"
        for container in [*pod["initContainers"], upload]:
            context = container["securityContext"]
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True


def test_snapshots_are_encrypted_shipped_off_the_node_and_pruned_without_secret_values() -> None:
    plan = built(EXAMPLE).plan
    ttl_hours = int(str(plan.decision("backup").param("ttl")).split("h")[0])
    for cluster in plan.topology.clusters:
        objects = backup_gitops.etcd_objects(plan, cluster)
        kinds = {o["kind"]: o for o in objects}
        bucket = naming.bucket(plan, cluster.environment, "etcd")
        assert kinds["ObjectBucketClaim"]["spec"]["bucketName"] == bucket
        secret = kinds["ExternalSecret"]
        assert [d["remoteRef"]["key"] for d in secret["spec"]["data"]] == [
            f"{plan.metadata.name}-{cluster.environment}-etcd-snapshot-passphrase"]
        (upload,) = _pod(kinds["CronJob"])["containers"]
        env = {e["name"]: e for e in upload["env"]}
        assert env["RCLONE_CONFIG_SEALED_TYPE"]["value"] == "crypt"
        assert env["RCLONE_CONFIG_SEALED_REMOTE"]["value"] == f"store:{bucket}/{cluster.name}"
        assert env["RCLONE_CONFIG_STORE_ENDPOINT"]["value"].startswith("http://rook-ceph-rgw")
        assert env["SNAPSHOT_PASSPHRASE"]["valueFrom"]["secretKeyRef"]["name"] == (
            secret["spec"]["target"]["name"])
        assert upload["envFrom"] == [{"secretRef": {"name": kinds["ObjectBucketClaim"][
            "metadata"]["name"]}}], "S3 keys from the claim's Secret, not from the output"
        secretish = [n for n in env if any(w in n for w in ("PASS", "KEY", "SECRET", "TOKEN"))]
        assert secretish == ["SNAPSHOT_PASSPHRASE"] and "value" not in env[secretish[0]]
        script = upload["command"][2]
        assert 'rclone copyto /snapshot/etcd.db "sealed:' in script, "only the crypt remote"
        assert f"--min-age {-(-ttl_hours // 24)}d store:{bucket}/{cluster.name}" in script
        sh = shutil.which("sh")
        assert sh, "a POSIX shell checks the upload script's syntax"
        done = subprocess.run([sh, "-n", "-c", script], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("rpo", "retention", "cron", "days"), [
    ("1h", "3d", "0 * * * *", 7), ("48h", "30d", "0 */6 * * *", 30),
    ("15m", "15d", "*/15 * * * *", 15)])
def test_the_snapshot_schedule_follows_the_rpo(rpo: str, retention: str, cron: str,
                                               days: int) -> None:
    plan = edited(EXAMPLE, availability={"rpo": rpo}, observability={"retention": retention})
    cluster = plan.topology.clusters[0]
    cronjob = next(o for o in backup_gitops.etcd_objects(plan, cluster) if o["kind"] == "CronJob")
    assert cronjob["spec"]["schedule"] == cron
    assert f"--min-age {days}d " in _pod(cronjob)["containers"][0]["command"][2]


# --- the CronJob's failure pages -----------------------------------------------------------------

def _etcd_rule(plan: Plan) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    tree = built(EXAMPLE).tree
    cluster = plan.topology.clusters[0]
    rule = _docs(tree.get(f"gitops/clusters/{cluster.name}/kube-prometheus-stack/manifests/"
                          "monitoring/prometheusrule-backups.yaml"))[0]
    groups = rule["spec"]["groups"]
    etcd = next(r for g in groups for r in g["rules"] if r.get("alert") == "EtcdSnapshotTooOld")
    return groups, etcd


def test_the_alert_describes_the_cronjob_and_links_a_runbook() -> None:
    b = built(EXAMPLE)
    _, etcd = _etcd_rule(b.plan)
    assert f'namespace="{telemetry.ETCD_BACKUP}"' in etcd["expr"]
    assert "kube_cronjob_created" in etcd["expr"], "a CronJob that never succeeded pages too"
    notes = etcd["annotations"]
    assert notes["runbook_url"].startswith("https://")
    assert "{{ $labels.cronjob }}" in notes["description"]
    assert f"kubectl -n {telemetry.ETCD_BACKUP} get jobs" in notes["description"]
    runbook = b.tree.get("docs/RUNBOOK.md").decode()
    assert "EtcdSnapshotTooOld" in runbook
    assert f"`{telemetry.ETCD_BACKUP}/etcd-snapshot`" in runbook
    assert f"{b.plan.metadata.name}-prod-etcd-snapshot-passphrase" in runbook


@pytest.mark.skipif(not shutil.which("promtool"),
                    reason="promtool missing (scripts/test.sh installs it from Debian)")
def test_a_failing_cronjob_fires_the_alert(tmp_path: Path) -> None:
    plan = built(EXAMPLE).plan
    groups, etcd = _etcd_rule(plan)
    period = {"0 */4 * * *": 4 * 3600}[str(plan.decision("backup").param("etcdSnapshotSchedule"))]
    stale = 2 * period + 600
    labels = {"namespace": telemetry.ETCD_BACKUP, "cronjob": "etcd-snapshot"}
    selector = '{namespace="etcd-backup", cronjob="etcd-snapshot"}'
    at = stale + 1800  # evaluated after the allowed two periods, on a sample (5m lookback)
    samples = at // 300 + 2

    def case(series: dict[str, int], fires: bool) -> dict[str, Any]:
        annotations = {k: v.replace("{{ $labels.namespace }}", labels["namespace"])
                       .replace("{{ $labels.cronjob }}", labels["cronjob"])
                       for k, v in etcd["annotations"].items()}
        return {"interval": "5m",
                "input_series": [{"series": f"{name}{selector}", "values": f"{v}x{samples}"}
                                 for name, v in series.items()],
                "alert_rule_test": [{"eval_time": f"{at}s", "alertname": "EtcdSnapshotTooOld",
                                     "exp_alerts": [{"exp_labels": {**labels, "severity":
                                                                    "critical"},
                                                     "exp_annotations": annotations}]
                                     if fires else []}]}

    tests = [
        case({"kube_cronjob_created": 0}, fires=True),  # never succeeded
        case({"kube_cronjob_created": 0, "kube_cronjob_status_last_successful_time": 60},
             fires=True),  # stopped succeeding
        case({"kube_cronjob_created": 0, "kube_cronjob_status_last_successful_time": at - 600},
             fires=False),  # healthy
    ]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(
        {"rule_files": ["rules.yaml"], "evaluation_interval": "5m", "tests": tests}))
    done = subprocess.run(["promtool", "test", "rules", "tests.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
