"""GitLab CI helpers: pinned images, cloud credentials from ID tokens, and the serialiser.

GitLab has no per-job token permissions; least privilege there means ID tokens only on the jobs
that talk to a cloud, protected and masked variables for the few secrets, and environments
(with `resource_group`) for anything that changes a live system.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeplan import catalogue
from kubeplan.render.delivery import AWS_AUDIENCE, AZURE_AUDIENCE
from kubeplan.render.serialise import to_yaml


def image(key: str) -> str:
    """`name:tag[-variant][@digest]` from the catalogue."""
    item = catalogue.image(key)
    tag = str(item["version"])
    if item.get("variant"):
        tag = f"{tag}-{item['variant']}"
    ref = f"{item['image']}:{tag}"
    return f"{ref}@{item['digest']}" if item.get("digest") else ref


def job_image(key: str) -> dict[str, Any]:
    # Tool images start their tool; GitLab needs the shell instead.
    return {"name": image(key), "entrypoint": [""]}


def gcp_id_token(token: str, provider_variable: str) -> dict[str, Any]:
    """An ID token whose audience is a Workload Identity pool provider (its default)."""
    return {token: {"aud": f"https://iam.googleapis.com/${{{provider_variable}}}"}}


def gcp_external_account(name: str, token: str, provider_variable: str,
                         identity_variable: str) -> list[str]:
    """Shell lines writing `$CI_CREDENTIALS/<name>.json`: an external-account credential from
    the ID token `token` that Google's SDKs exchange themselves, impersonating the service
    account in `identity_variable` (`$CI_CREDENTIALS` must exist)."""
    return [
        f'printf \'%s\' "${token}" > "$CI_CREDENTIALS/{name}-token"',
        "printf '{\"type\":\"external_account\",\"audience\":\"//iam.googleapis.com/%s\","
        "\"subject_token_type\":\"urn:ietf:params:oauth:token-type:jwt\","
        "\"token_url\":\"https://sts.googleapis.com/v1/token\","
        "\"service_account_impersonation_url\":\"https://iamcredentials.googleapis.com/v1/"
        "projects/-/serviceAccounts/%s:generateAccessToken\","
        "\"credential_source\":{\"file\":\"%s\"}}' "
        f'"${provider_variable}" "${identity_variable}" '
        f'"$CI_CREDENTIALS/{name}-token" > "$CI_CREDENTIALS/{name}.json"',
    ]


def cloud_credentials(provider: str, region: str, identity_variable: str
                      ) -> tuple[dict[str, Any], list[str]]:
    """ID tokens and shell lines that let cloud SDKs (Terraform, cosign's keychains) obtain
    short-lived credentials for `identity_variable` (a service account, role or application)."""
    if provider == "gcp":
        tokens = gcp_id_token("GCP_ID_TOKEN", "GCP_WORKLOAD_IDENTITY_PROVIDER")
        lines = [
            'CI_CREDENTIALS="$(mktemp -d)"',
            *gcp_external_account("gcp", "GCP_ID_TOKEN", "GCP_WORKLOAD_IDENTITY_PROVIDER",
                                  identity_variable),
            'export GOOGLE_APPLICATION_CREDENTIALS="$CI_CREDENTIALS/gcp.json"',
        ]
        return tokens, lines
    if provider == "aws":
        tokens = {"AWS_ID_TOKEN": {"aud": AWS_AUDIENCE}}
        lines = [
            'CI_CREDENTIALS="$(mktemp -d)"',
            'printf \'%s\' "$AWS_ID_TOKEN" > "$CI_CREDENTIALS/oidc-token"',
            f'export AWS_ROLE_ARN="${identity_variable}"',
            'export AWS_WEB_IDENTITY_TOKEN_FILE="$CI_CREDENTIALS/oidc-token"',
            'export AWS_ROLE_SESSION_NAME="gitlab-$CI_JOB_ID"',
            f'export AWS_REGION="{region}"',
        ]
        return tokens, lines
    if provider == "azure":
        tokens = {"AZURE_ID_TOKEN": {"aud": AZURE_AUDIENCE}}
        lines = [
            "export ARM_USE_OIDC=true",
            'export ARM_OIDC_TOKEN="$AZURE_ID_TOKEN"',
            f'export ARM_CLIENT_ID="${identity_variable}"',
            'export ARM_TENANT_ID="$AZURE_TENANT_ID"',
            'export ARM_SUBSCRIPTION_ID="$AZURE_SUBSCRIPTION_ID"',
        ]
        return tokens, lines
    raise ValueError(f"no cloud credentials on {provider}")


def docker_config(entries: list[tuple[str, str, str]]) -> str:
    """Shell that writes a Docker config with basic-auth entries (host, user, password vars),
    in a temporary folder that dies with the job."""
    auths = ",".join('"%s":{"auth":"%s"}' for _ in entries)
    args = " ".join(
        f'"{host}" "$(printf \'%s:%s\' "{user}" "{password}" | base64 | tr -d \'\\n\')"'
        for host, user, password in entries)
    return ('export DOCKER_CONFIG="$(mktemp -d)"\n'
            f"printf '{{\"auths\":{{{auths}}}}}' {args} > \"$DOCKER_CONFIG/config.json\"")


def dump(pipeline: Mapping[str, Any], header: str) -> str:
    lines = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return lines + to_yaml(dict(pipeline))
