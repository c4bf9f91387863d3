"""CLI behaviour: exit codes, messages, init, schema, explain."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml

from kubeplan.cli import main
from kubeplan.spec.load import parse_yaml

from .conftest import EXAMPLES, example_files


@pytest.fixture
def in_tmp(tmp_path: Path) -> Path:
    cwd = Path.cwd()
    os.chdir(tmp_path)
    yield tmp_path  # type: ignore[misc]
    os.chdir(cwd)


def test_plan_without_spec_uses_builtin_example_and_says_so(
        in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan"]) == 0
    captured = capsys.readouterr()
    assert "built-in example 'shop'" in captured.err
    assert "cdn" in captured.out and "provider" in captured.out


def test_plan_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--json", str(EXAMPLES / "shop.yaml")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"apiVersion", "metadata", "decisions", "topology", "warnings"} <= set(data)
    for d in data["decisions"]:
        assert {"block", "choice", "components", "rationale", "inputs", "alternatives",
                "overridden"} <= set(d)
        for alt in d["alternatives"]:
            assert set(alt) == {"choice", "tradeoff"}
    assert {"regions", "clusters"} <= set(data["topology"])
    for cluster in data["topology"]["clusters"]:
        assert {"name", "region", "environment"} <= set(cluster)


def test_plan_json_is_byte_identical(capsys: pytest.CaptureFixture[str]) -> None:
    outputs = []
    for _ in range(2):
        assert main(["plan", "--json", str(EXAMPLES / "aws-saas.yaml")]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]


def test_schema_validates_every_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    validator = jsonschema.Draft202012Validator(schema)
    for example in example_files():
        data, _ = parse_yaml(example.read_text(), example.name)  # YAML 1.2 like editors
        errors = list(validator.iter_errors(data))
        assert not errors, f"{example.name}: {errors[0].message}"
    # ... and rejects what the models reject.
    bad = yaml.safe_load((EXAMPLES / "shop.yaml").read_text())
    bad["spec"]["provder"] = "gcp"
    assert list(validator.iter_errors(bad))


def test_explain_names_alternatives(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "cdn", str(EXAMPLES / "media-site.yaml")]) == 0
    text = capsys.readouterr().out
    assert "provider" in text and "alternatives" in text and "none" in text
    assert "spec.traffic.staticShare" in text or "spec.traffic.ddosProtection" in text


def test_explain_unknown_block(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "cnd", "--example", "shop"]) == 2
    assert "did you mean 'cdn'" in capsys.readouterr().err


def test_unknown_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--example", "nope"]) == 2
    assert "no built-in example" in capsys.readouterr().err


def test_bad_option_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--jsn"]) == 2


def test_init_yes_writes_valid_spec_and_refuses_overwrite(
        in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--yes"]) == 0
    spec = in_tmp / "platform.yaml"
    assert spec.exists() and (in_tmp / "platform.schema.json").exists()
    assert main(["plan", str(spec)]) == 0
    before = spec.read_text()
    spec.write_text(before + "# my edit\n")
    assert main(["init", "--yes"]) == 2
    assert "--force" in capsys.readouterr().err
    assert spec.read_text().endswith("# my edit\n")
    assert main(["init", "--yes", "--force"]) == 0
    assert spec.read_text() == before


def test_init_asks_questions(in_tmp: Path) -> None:
    from typer.testing import CliRunner

    from kubeplan.cli import cli

    answers = "\n".join(["acme", "aws", "", "acme.example.com", "prod", "99.9", "100", "0.1",
                         "local", "baseline", "3"]) + "\n"
    result = CliRunner().invoke(cli, ["init"], input=answers)
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((in_tmp / "platform.yaml").read_text())
    assert data["spec"]["provider"] == "aws"
    assert data["spec"]["regions"] == ["eu-west-1"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip()
