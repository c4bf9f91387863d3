"""dns on AWS: a Route 53 public hosted zone per environment, DNSSEC-signed unless a second
provider serves it too (the module keeps the key-signing KMS key in us-east-1, where Route 53
requires it), with CAA records; production
delegates the other environments' zones (NS and DS records). external-dns (and cert-manager for
DNS-01) get EKS Pod Identity roles limited to this zone.
"""

from __future__ import annotations

from kubeplan.render.terraform import aws, objectstore
from kubeplan.render.terraform import aws_policies as policies
from kubeplan.render.terraform.hcl import Value, ref
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv, slug
from kubeplan.render.terraform.shared import ZONE_MODULE, cert_manager_dns

LAYER = "edge"
FILE = "dns"
TTL = 3600


def contribute(env: TerraformEnv, caa: list[str], delegated: list[str]) -> list[Contribution]:
    # Beside a second provider the zones stay unsigned: two independent signers need a
    # multi-signer key exchange (RFC 8901) this plan does not set up, and one signed side would
    # make validating resolvers reject the other side's answers.
    signed = env.choice("dns") != "multi-provider"
    records: dict[str, Value] = {"caa": {"name": "", "type": "CAA", "ttl": TTL, "records": caa}}
    for other in delegated:
        records[f"{slug(other)}_ns"] = {"name": other, "type": "NS", "ttl": TTL,
                                        "records": env.remote_env(other, LAYER, "name_servers")}
        if signed:
            records[f"{slug(other)}_ds"] = {"name": other, "type": "DS", "ttl": TTL,
                                            "records": [env.remote_env(other, LAYER,
                                                                       "ds_record")]}
    zone = env.module(ZONE_MODULE, "aws-route53", {
        "name": env.zone,
        "comment": f"{env.name} {env.environment} public zone (kubeplan)",
        "enable_dnssec": signed,
        "create_dnssec_kms_key": signed,
        "records": records,
        "tags": env.labels,
    })
    outputs = [Output("zone_id", ref(f"module.{ZONE_MODULE}.id"), "Route 53 hosted zone ID."),
               Output("zone_arn", ref(f"module.{ZONE_MODULE}.arn"), "Hosted zone ARN."),
               Output("zone_domain", env.zone, "DNS name of the environment's zone."),
               Output("name_servers", ref(f"module.{ZONE_MODULE}.name_servers"),
                      "Name servers to delegate the zone to.")]
    if signed:
        outputs.append(Output("ds_record",
                              ref(f"module.{ZONE_MODULE}.dnssec_signing_key_ds_record"),
                              "DS record the parent zone publishes for DNSSEC."))
        notes = ("Publish the production zone's `ds_record` output at the domain's registrar "
                 "(the parent of the other environments' zones gets theirs from Terraform).",)
    else:
        notes = ("The Route 53 zones are not DNSSEC-signed under dns: multi-provider: two "
                 "independent signers need a multi-signer key exchange (RFC 8901) this plan "
                 "does not set up; publish no DS record at the registrar.",)
    edge = Contribution(
        LAYER, FILE, (zone,), outputs=tuple(outputs),
        gitops={"dns.zone": env.zone, "dns.zone-id": ref(f"module.{ZONE_MODULE}.id")},
        notes=notes)
    zones: list[Value] = [env.remote(LAYER, "zone_arn")]
    blocks = aws.workload_identity(env, "external-dns", policies.external_dns(zones))
    gitops: dict[str, Value] = {"external-dns.identity": aws.identity_arn("external-dns")}
    outputs = [Output("external_dns_identity", aws.identity_arn("external-dns"),
                      "IAM role of external-dns.")]
    if cert_manager_dns(env):
        blocks += aws.workload_identity(env, "cert-manager", policies.cert_manager(zones))
        gitops["cert-manager.identity"] = aws.identity_arn("cert-manager")
        outputs.append(Output("cert_manager_identity", aws.identity_arn("cert-manager"),
                              "IAM role of cert-manager (DNS-01)."))
    return [edge, Contribution(objectstore.STORAGE, FILE, tuple(blocks), outputs=tuple(outputs),
                               gitops=gitops)]
