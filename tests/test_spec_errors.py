"""Bad input gets a located, actionable message and exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeplan.cli import main

from .conftest import BASE_SPEC, ROOT, merge, spec_with

CASES: list[dict[str, Any]] = yaml.safe_load((ROOT / "tests/data/bad_specs.yaml").read_text())


def _text(case: dict[str, Any]) -> str:
    if "text" in case:
        return str(case["text"])
    if "spec" in case:
        doc = spec_with(case["spec"])
    elif "doc" in case:
        doc = merge(BASE_SPEC, case["doc"])
    elif "spec_doc" in case:
        doc = merge(BASE_SPEC, case["spec_doc"])
    else:
        doc = merge(BASE_SPEC, {})
        del doc["spec"][case["drop"]]
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bad_spec(case: dict[str, Any], tmp_path: Path,
                  capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "platform.yaml"
    spec.write_text(_text(case))
    assert main(["plan", str(spec)]) == 2
    captured = capsys.readouterr()
    message = " ".join(captured.err.split())
    assert "Traceback" not in captured.err + captured.out
    assert str(spec) in message, "the message names the file"
    for needle in case["expect"]:
        assert " ".join(needle.split()) in message, f"{needle!r} not in:\n{captured.err}"


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_huge_garbage_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "platform.yaml"
    spec.write_bytes(b"\xff\xfe garbage " * 100_000)
    assert main(["plan", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "larger than" in err and "Traceback" not in err


def test_binary_garbage_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "platform.yaml"
    spec.write_bytes(bytes(range(256)))
    assert main(["plan", str(spec)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_alias_bomb_is_bounded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, "
              f"*a{i-1}, *a{i-1}, *a{i-1}]" for i in range(1, 9)]
    spec = tmp_path / "platform.yaml"
    spec.write_text("\n".join(lines) + "\n")
    assert main(["plan", str(spec)]) == 2
    assert "more than" in capsys.readouterr().err


def test_several_problems_are_reported_together(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "platform.yaml"
    spec.write_text(yaml.safe_dump(spec_with({"provider": "gpc", "traffic": {"audience": "x"}})))
    assert main(["plan", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "2 problems" in err and "spec.provider" in err and "spec.traffic.audience" in err
