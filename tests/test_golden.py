"""Golden `plan --json` per example. Refresh with `--update-golden` and review the diff."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from kubeplan.cli import main

from .conftest import ROOT, example_files

GOLDEN = ROOT / "tests" / "golden"


@pytest.mark.parametrize("example", example_files(), ids=lambda p: p.stem)
def test_plan_json_matches_golden(example: Path, update_golden: bool,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--json", str(example)]) == 0
    actual = capsys.readouterr().out
    golden = GOLDEN / f"{example.stem}.plan.json"
    if update_golden:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual)
        return
    assert golden.exists(), f"no golden file; run the tests with --update-golden ({golden})"
    expected = golden.read_text()
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                            str(golden), "actual"))
        pytest.fail(f"plan differs from the golden file (rerun with --update-golden if "
                    f"intended):\n{diff}")
