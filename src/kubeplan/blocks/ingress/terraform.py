"""ingress -> Terraform `storage` layer: the AWS Load Balancer Controller's IAM role (EKS Pod
Identity).

The other implementations need no cloud identity: the GKE Gateway controller is managed by
Google, and Envoy, Istio or Cilium gateways sit behind a Service of type LoadBalancer.
"""

from __future__ import annotations

from kubeplan.render.terraform import aws, objectstore
from kubeplan.render.terraform import aws_policies as policies
from kubeplan.render.terraform.hcl import Value
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv

FILE = "ingress"
COMPONENT = "aws-load-balancer-controller"


def contribute(env: TerraformEnv) -> list[Contribution]:
    if env.provider != "aws" or env.choice("ingress") != COMPONENT:
        return []
    role: Value = aws.identity_arn(COMPONENT)
    return [Contribution(
        objectstore.STORAGE, FILE,
        tuple(aws.workload_identity(env, COMPONENT, policies.load_balancer_controller(),
                                    policies.LOAD_BALANCER_CONTROLLER_SKIPS)),
        outputs=(Output("aws_load_balancer_controller_identity", role,
                        "IAM role of the AWS Load Balancer Controller."),),
        gitops={f"{COMPONENT}.identity": role})]
