"""storage -> Terraform: what the CSI drivers need from the cloud.

Disk encryption keys (and on Azure the disk encryption set) are created with the clusters, whose
node disks use them too (cluster layer). Shared file systems: on AWS an EFS file system per
region (encrypted with a customer-managed key, automatic backups, mount targets in the worker
subnets, NFS admitted from the nodes only) in the `storage` layer; GKE's Filestore and AKS's
Azure Files CSI drivers create their shares dynamically, so nothing is rendered for them.
"""

from __future__ import annotations

from kubeplan.render.terraform import aws, objectstore
from kubeplan.render.terraform.hcl import Block, Expr, Value, block, call, ref
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv, module_block, slug

FILE = "storage"
NFS_PORT = 2049


def contribute(env: TerraformEnv) -> list[Contribution]:
    shared = bool(env.plan.inputs.get("workloads", {}).get("sharedFilesystem"))
    if env.provider != "aws" or not shared:
        return []
    blocks: list[Block] = []
    systems: dict[str, Value] = {}
    for region in env.regions:
        name = f"shared_{slug(region)}"
        key = f"files_{slug(region)}"
        group = f"nfs_{slug(region)}"
        blocks += aws.kms_key(key, f"Shared file systems in {region}", region)
        nodes = [env.remote("cluster", "node_security_groups").index(c.name)
                 for c in env.clusters if c.region == region]
        blocks.append(module_block(group, "aws-security-group", {
            "name": f"{env.prefix}-nfs-{region}",
            "description": "NFS to the shared file system from cluster nodes only",
            "vpc_id": env.remote("network", "vpc_ids").index(region),
            "computed_ingress_with_source_security_group_id": [
                {"rule": "nfs-tcp", "source_security_group_id": n} for n in nodes],
            "number_of_computed_ingress_with_source_security_group_id": len(nodes),
            "egress_rules": [],
            "tags": env.labels,
        }))
        blocks.append(block("resource", "aws_efs_file_system", name, region=region,
                            creation_token=f"{env.prefix}-{region}", encrypted=True,
                            kms_key_id=aws.key_arn(key), performance_mode="generalPurpose",
                            throughput_mode="elastic",
                            lifecycle_policy=block("lifecycle_policy",
                                                   transition_to_ia="AFTER_30_DAYS"),
                            tags={**env.labels, "Name": f"{env.prefix}-{region}"}))
        blocks.append(block("resource", "aws_efs_backup_policy", name, region=region,
                            file_system_id=ref(f"aws_efs_file_system.{name}.id"),
                            backup_policy=block("backup_policy", status="ENABLED")))
        blocks.append(block("resource", "aws_efs_mount_target", name, region=region,
                            count=call("length", env.remote("network", "worker_subnets")
                                       .index(region)),
                            file_system_id=ref(f"aws_efs_file_system.{name}.id"),
                            subnet_id=Expr(f'data.terraform_remote_state.network.outputs'
                                           f'.worker_subnets["{region}"][count.index]'),
                            security_groups=[ref(f"module.{group}.security_group_id")]))
        systems[region] = ref(f"aws_efs_file_system.{name}.id")
    return [Contribution(
        objectstore.STORAGE, FILE, tuple(blocks),
        outputs=(Output("shared_file_systems", systems,
                        "EFS file system per region (StorageClass fileSystemId)."),),
        gitops={f"storage.efs-file-system.{r}": v for r, v in systems.items()})]
