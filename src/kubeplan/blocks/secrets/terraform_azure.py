"""secrets on Azure: a Key Vault for the environment's secrets (Azure RBAC, purge protection)
and the External Secrets Operator's workload identity with Key Vault Secrets User on it."""

from __future__ import annotations

from kubeplan.render.gitops import outputs
from kubeplan.render.terraform import azure, objectstore
from kubeplan.render.terraform.hcl import Block, ref
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv

FILE = "secrets"
COMPONENT = "external-secrets"


def contribute(env: TerraformEnv) -> Contribution:
    blocks: list[Block] = azure.key_vault(env, "secrets", "secrets", "application secrets")
    blocks += azure.workload_identity(env, COMPONENT)
    blocks.append(azure.role("external_secrets_reader", ref("azurerm_key_vault.secrets.id"),
                             "Key Vault Secrets User", azure.principal_id(COMPONENT)))
    vault_url = ref("azurerm_key_vault.secrets.vault_uri")
    return Contribution(
        objectstore.STORAGE, FILE, tuple(blocks),
        outputs=(Output("external_secrets_identity", azure.client_id(COMPONENT),
                        "Client ID of the External Secrets Operator's workload identity."),
                 Output("secrets_vault_url", vault_url, "Key vault of the application secrets.")),
        gitops={f"{COMPONENT}.identity": azure.client_id(COMPONENT),
                f"{COMPONENT}.vault-url": vault_url},
        platform={outputs.client_id_variable(COMPONENT): azure.client_id(COMPONENT),
                  "AZURE_KEY_VAULT_URL": vault_url})
