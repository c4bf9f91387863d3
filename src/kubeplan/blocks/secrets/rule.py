"""secrets: secrets live in a secret store outside the cluster, synced in by External Secrets.

Trade-off: the provider's secret manager is managed, audited and reached through workload
identity (no static keys anywhere), but ties secrets to one cloud; HashiCorp Vault works
everywhere and offers dynamic credentials, and it is a stateful, security-critical service you
run, unseal and upgrade yourself. Either way the External Secrets Operator turns store entries
into Kubernetes Secrets, so workloads and Git never hold the values.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.model import Scalar

# Postures whose secrets must be encrypted with keys the customer controls (CMEK, CMK, HSM).
CMK_POSTURES = ("regulated",)
OPERATOR = "external-secrets"
# External Secrets Operator provider names (the key under ClusterSecretStore spec.provider).
STORE_PROVIDER = {"gcp": "gcpsm", "aws": "aws", "azure": "azurekv"}
STORE = {
    "gcp": "Secret Manager (Google Cloud)",
    "aws": "AWS Secrets Manager",
    "azure": "Azure Key Vault",
}
WORKLOAD_IDENTITY = {
    "gcp": "GKE Workload Identity Federation",
    "aws": "EKS IAM roles for service accounts",
    "azure": "Microsoft Entra Workload ID",
}
CUSTOMER_KEYS = {
    "gcp": "Cloud KMS customer-managed encryption key for Secret Manager",
    "aws": "AWS KMS customer managed key for Secrets Manager",
    "azure": "Azure Key Vault Premium (HSM-protected keys)",
}
VAULT_AUTH = "Vault Kubernetes auth method"
VAULT_UNSEAL = {
    "gcp": "Vault auto-unseal with Cloud KMS",
    "aws": "Vault auto-unseal with AWS KMS",
    "azure": "Vault auto-unseal with Azure Key Vault",
    "onprem": "Vault auto-unseal with an HSM (PKCS#11) or Shamir key shares held by named "
              "operators",
}


class Secrets(Rule):
    block = "secrets"
    title = "Secrets"
    choices = (
        Choice("provider-secret-manager", "The cloud's secret manager, synced into the cluster "
               "by the External Secrets Operator through workload identity.",
               "Managed, audited and replicated with no static keys; ties secrets to one cloud "
               "and is billed per secret and per access."),
        Choice("vault", "HashiCorp Vault, synced into the cluster by the External Secrets "
               "Operator.",
               "Runs anywhere and issues dynamic credentials; a stateful, security-critical "
               "service to unseal, back up and upgrade, under the Business Source License "
               "(OpenBao is the open-source fork)."),
    )

    def decide(self, ctx: Context) -> Outcome:
        provider = ctx.provider
        if provider == "onprem":
            return Outcome("vault",
                           "spec.provider is onprem, where no managed secret store exists: "
                           "HashiCorp Vault holds the secrets and the External Secrets Operator "
                           "syncs them in through Vault's Kubernetes auth, with no static "
                           "tokens.", self.parameters("vault", ctx))
        return Outcome("provider-secret-manager",
                       f"spec.provider is {provider}: {STORE[provider]} holds the secrets and "
                       f"the External Secrets Operator reads them through "
                       f"{WORKLOAD_IDENTITY[provider]}, so no static key exists anywhere.",
                       self.parameters("provider-secret-manager", ctx))

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        provider = ctx.provider
        vault = choice == "vault"
        return {
            "operator": OPERATOR,
            "secretStoreProvider": "vault" if vault else STORE_PROVIDER[provider],
            "auth": VAULT_AUTH if vault else WORKLOAD_IDENTITY[provider],
            "staticCredentials": False,
            "customerManagedKeys": ctx.get("security.posture") in CMK_POSTURES,
        }

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        provider = ctx.provider
        params = self.parameters(choice, ctx)
        eso = f"External Secrets Operator (ClusterSecretStore {params['secretStoreProvider']})"
        if choice == "vault":
            return (eso, "HashiCorp Vault (three nodes, Raft integrated storage)",
                    f"{VAULT_AUTH} (service account tokens, no static tokens)",
                    VAULT_UNSEAL[provider])
        base = (eso, STORE[provider], f"{WORKLOAD_IDENTITY[provider]} (no static keys)")
        return (*base, CUSTOMER_KEYS[provider]) if params["customerManagedKeys"] else base

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        if choice == "provider-secret-manager" and ctx.provider == "onprem":
            return Conflict("on-prem has no provider secret manager", ("spec", "provider"),
                            "use secrets: vault")
        return None


RULE = Secrets()
