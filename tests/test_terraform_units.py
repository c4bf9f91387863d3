"""Units of the Terraform target: the HCL emitter, type and version constraints, and the
validator catching what it is meant to catch (without checkov: it has its own test)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kubeplan.check import terraform as check_terraform
from kubeplan.check.tftypes import conforms, parse_type, satisfies
from kubeplan.errors import RenderError
from kubeplan.render.terraform import compose
from kubeplan.render.terraform.hcl import (
    BLANK,
    Expr,
    block,
    call,
    render_file,
    template,
    var,
)
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv, module_block

from .conftest import SHARED_UPSTREAM
from .terraform_support import plan_of

# --- the emitter ----------------------------------------------------------------------------


def test_strings_are_quoted_and_escaped_references_are_not() -> None:
    text = render_file([block(
        "resource", "x", "y",
        plain='say "hi" \\ ${not} %{nor}\n', ref=var("project_id"),
        member=template("serviceAccount:", var("project_id"), ".svc.id.goog[ns/sa]"),
        keys={"a-b": 1, "kubernetes.io/role": "1", "9lives": True},
        nothing=None, ratio=0.00001, empty=[], calls=call("toset", ["a", "b"]))])
    assert 'plain  = "say \\"hi\\" \\\\ $${not} %%{nor}\\n"' in text
    assert "ref    = var.project_id" in text
    assert 'member = "serviceAccount:${var.project_id}.svc.id.goog[ns/sa]"' in text
    assert '"kubernetes.io/role" = "1"' in text and '"9lives"' in text and "a-b " in text
    assert "nothing = null" in text and "ratio   = 0.00001" in text
    assert 'calls   = toset(["a", "b"])' in text
    parsed = check_terraform.parse(text)
    body = parsed["resource"][0]['"x"']['"y"']
    assert body["ref"] == "${var.project_id}" and body["nothing"] is None


def test_alignment_follows_hclwrite_runs() -> None:
    text = render_file([block("module", "m", source="s", for_each=Expr("var.x"),
                              args={"a": 1, "long_name": {"inner": 2}, "bb": 3})])
    lines = text.splitlines()
    assert '  source   = "s"' in lines and "  for_each = var.x" in lines
    assert "    a = 1" in lines and "    long_name = {" in lines and "    bb = 3" in lines


def test_output_is_what_terraform_fmt_writes(tmp_path: Path) -> None:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("the terraform binary is not installed")
    text = render_file([
        block("terraform", required_version="1.15.9"),
        block("locals", labels={"a": "b", "longer-key": "c"},
              policy=call("jsonencode", {"Statement": [{"Effect": "Allow", "Resource": "*"}]})),
        block("resource", "a", "b", count=2, nested=block("lifecycle", prevent_destroy=True)),
    ])
    path = tmp_path / "main.tf"
    path.write_text(text)
    done = subprocess.run([binary, "fmt", "-check", "-diff", str(path)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout


def test_module_calls_pin_the_release_commit() -> None:
    module = module_block("network", "gcp-network", {"project_id": var("project_id")})
    text = render_file([module])
    assert "# terraform-google-modules/network/google 18.1.0" in text
    assert "terraform-google-network.git?ref=3012d98fcb709d5ba456e0d93f42ab61028f7655" in text
    assert module.body[2] is BLANK  # arguments are set apart from the source


# --- type and version constraints --------------------------------------------------------------


def test_object_types_catch_dropped_and_missing_attributes() -> None:
    of = parse_type("list(object({name = string, ports = optional(list(string), []), "
                    'mode = optional(string, "A")}))')
    assert conforms([{"name": '"a"', "ports": ['"22"']}], of) == []
    problems = conforms([{"nam": '"a"'}], of, "rules")
    assert any("'nam' is not declared" in p for p in problems)
    assert any("required attribute 'name'" in p for p in problems)
    assert conforms("${var.rules}", of) == []
    assert conforms({"a": 1}, parse_type("list(string)"), "x") == ["x: expected a list"]


def test_version_constraints() -> None:
    assert satisfies("7.45.0", ">= 4.64, < 8") and not satisfies("8.0.0", ">= 4.64, < 8")
    assert satisfies("0.3.5", "~> 0.3") and not satisfies("1.0.0", "~> 0.3")
    assert satisfies("2.12.3", "~> 2.12.0") and not satisfies("2.13.0", "~> 2.12.0")


# --- the validator ---------------------------------------------------------------------------

GOOD_NETWORK = '''terraform {
  required_version = "1.15.9"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "7.45.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "7.45.0"
    }
  }
}

variable "project_id" {
  type = string
}

module "network" {
  source = "git::https://github.com/terraform-google-modules/terraform-google-network.git?ref=3012d98fcb709d5ba456e0d93f42ab61028f7655"

  project_id   = var.project_id
  network_name = "n"
  subnets = [
    {
      subnet_name = "s"
      subnet_ip   = "10.0.0.0/20"
    },
  ]
}

output "network_name" {
  value = module.network.network_name
}
'''

GOOD_CLUSTER = '''terraform {
  required_version = "1.15.9"
}

data "terraform_remote_state" "network" {
  backend = "gcs"
  config = {
    bucket = "b"
    prefix = "prod/network"
  }
}

output "name" {
  value = data.terraform_remote_state.network.outputs.network_name
}
'''


def _tree(tmp_path: Path, network: str = GOOD_NETWORK, cluster: str = GOOD_CLUSTER) -> Path:
    (tmp_path / "terraform/prod/network").mkdir(parents=True)
    (tmp_path / "terraform/prod/cluster").mkdir(parents=True)
    (tmp_path / "terraform/prod/network/main.tf").write_text(network)
    (tmp_path / "terraform/prod/cluster/main.tf").write_text(cluster)
    return tmp_path


def _messages(tmp_path: Path, **files: str) -> str:
    findings = check_terraform.check_roots(_tree(tmp_path, **files), SHARED_UPSTREAM)
    return "\n".join(f.render() for f in findings)


def test_validator_accepts_a_correct_tree(tmp_path: Path) -> None:
    assert _messages(tmp_path) == ""


CASES = [
    (GOOD_NETWORK.replace("network_name = ", "network_nam = "),
     "argument 'network_nam' is not a variable"),
    (GOOD_NETWORK.replace('  network_name = "n"\n', ""), "required variable 'network_name'"),
    (GOOD_NETWORK.replace("subnet_ip   =", "subnet_ipp  ="), "'subnet_ipp' is not declared"),
    (GOOD_NETWORK.replace("module.network.network_name", "module.network.name_of_network"),
     "declares no such output"),
    (GOOD_NETWORK.replace("var.project_id", "var.project"), "var.project is not declared"),
    (GOOD_NETWORK.replace('version = "7.45.0"', 'version = ">= 7.0"', 1), "not an exact pin"),
    (GOOD_NETWORK.replace('    google-beta = {\n      source  = "hashicorp/google-beta"\n'
                          '      version = "7.45.0"\n    }\n', ""),
     "requires provider 'google-beta'"),
    (GOOD_NETWORK.replace('version = "7.45.0"', 'version = "8.0.0"', 1),
     "does not satisfy module network's constraint"),
    (GOOD_NETWORK.replace("ref=3012d98", "ref=0000000"), "no interface for"),
    (GOOD_NETWORK + 'variable "unused" {\n  type = string\n}\n', "'unused' is declared but"),
    (GOOD_NETWORK + "resource \"x_y\" \"z\" {\n  a = google_thing.missing.id\n}\n",
     "google_thing.missing is not declared"),
    (GOOD_NETWORK + "resource {", "does not parse"),
]


@pytest.mark.parametrize(("broken", "expected"), CASES, ids=[c[1] for c in CASES])
def test_validator_catches(tmp_path: Path, broken: str, expected: str) -> None:
    assert expected in _messages(tmp_path, network=broken)


def test_validator_checks_outputs_read_from_other_layers(tmp_path: Path) -> None:
    broken = GOOD_CLUSTER.replace("outputs.network_name", "outputs.network_id")
    assert "that layer declares no such output" in _messages(tmp_path, cluster=broken)


def test_zone_files_go_through_named_checkzone(tmp_path: Path) -> None:
    if shutil.which("named-checkzone") is None:
        pytest.fail("named-checkzone (Debian bind9-utils) is needed: run scripts/test.sh")
    zone = tmp_path / "onprem/dns/example.net.zone"
    zone.parent.mkdir(parents=True)
    zone.write_text("$ORIGIN example.net.\n$TTL 300\n@ IN SOA ns1 hostmaster ( 1 3600 600 "
                    "1209600 300 )\n@ IN NS ns1\n")
    findings = check_terraform.check_zone_files(tmp_path)
    assert findings and "named-checkzone" in findings[0].message


# --- composition -------------------------------------------------------------------------------


def test_composer_refuses_conflicting_definitions_and_later_layers() -> None:
    env = TerraformEnv(plan_of("shop"), "dev")
    one = block("resource", "google_x", "a", name="one")
    two = block("resource", "google_x", "a", name="two")

    def conflicting(_: TerraformEnv) -> list[Contribution]:
        return [Contribution("network", "a", (one,)), Contribution("network", "b", (two,))]

    with pytest.raises(RenderError, match="differently"):
        compose.render_environment(env, [conflicting], compose_tree())

    def reads_later(_: TerraformEnv) -> list[Contribution]:
        return [Contribution("network", "a", outputs=(
            Output("x", env.remote("storage", "y"), "x"),))]

    with pytest.raises(RenderError, match="not applied before"):
        compose.render_environment(env, [reads_later], compose_tree())


def compose_tree() -> compose.OutputTree:
    return compose.OutputTree()
