"""`kubeplan build`: atomic writes, the manifest, edited-file protection, dry runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeplan.cli import main
from kubeplan.errors import RenderError, UsageError
from kubeplan.render import OutputTree, write_tree

from .conftest import EXAMPLES


def _build(out: Path, *extra: str, example: str = "shop.yaml") -> int:
    return main(["build", str(EXAMPLES / example), "-o", str(out), *extra])


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_build_writes_plan_records_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "platform"
    assert _build(out) == 0
    assert json.loads((out / "plan.json").read_text())["metadata"]["name"] == "shop"
    records = sorted((out / "docs/decisions").glob("*.md"))
    assert records[0].name == "0001-topology.md"
    assert len(records) == len(json.loads((out / "plan.json").read_text())["decisions"])
    text = (out / "docs/decisions/0006-cdn.md").read_text()
    for heading in ("## Context", "## Decision", "## Alternatives", "## Consequences",
                    "## How to change it"):
        assert heading in text
    manifest = json.loads((out / ".kubeplan/manifest.json").read_text())
    assert "plan.json" in manifest["files"]
    assert not list(tmp_path.glob(".platform.*")), "no staging folder left behind"


def test_build_is_byte_identical(tmp_path: Path) -> None:
    assert _build(tmp_path / "a") == 0
    assert _build(tmp_path / "b") == 0
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_rebuild_unchanged_and_keeps_foreign_files(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "platform"
    assert _build(out) == 0
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (out / "NOTES.md").write_text("mine\n")
    capsys.readouterr()
    assert _build(out) == 0
    assert "0 added, 0 changed, 0 removed" in capsys.readouterr().out
    assert (out / "NOTES.md").read_text() == "mine\n"
    assert (out / ".git" / "HEAD").exists()


def test_edited_file_is_protected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "platform"
    assert _build(out) == 0
    record = out / "docs/decisions/0006-cdn.md"
    record.write_text(record.read_text() + "\nmy note\n")
    capsys.readouterr()
    # A different spec changes that file: the edit must not be lost silently.
    assert _build(out, example="media-site.yaml") == 2
    err = capsys.readouterr().err
    assert "docs/decisions/0006-cdn.md" in err and "--force" in err
    assert record.read_text().endswith("my note\n")
    assert json.loads((out / "plan.json").read_text())["metadata"]["name"] == "shop"
    # --dry-run shows it; --force overwrites it.
    assert _build(out, "--dry-run", example="media-site.yaml") == 0
    assert "(edited by you)" in capsys.readouterr().out
    assert _build(out, "--force", example="media-site.yaml") == 0
    assert "my note" not in record.read_text()


def test_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "platform"
    assert _build(out, "--dry-run") == 0
    assert not out.exists()
    assert "add    plan.json" in capsys.readouterr().out


def test_refuses_non_kubeplan_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "platform"
    out.mkdir()
    (out / "main.tf").write_text("# someone else's\n")
    assert _build(out) == 2
    assert "holds no kubeplan output" in capsys.readouterr().err


def test_stale_generated_files_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "platform"
    tree = OutputTree()
    tree.add("a/one.txt", "1")
    tree.add("b/two.txt", "2")
    write_tree(tree, out)
    smaller = OutputTree()
    smaller.add("a/one.txt", "1")
    changes = write_tree(smaller, out)
    assert changes.removed == ["b/two.txt"]
    assert not (out / "b").exists()


def test_failed_render_leaves_tree_untouched(tmp_path: Path) -> None:
    tree = OutputTree()
    tree.add("x.txt", "1")
    with pytest.raises(RenderError):
        tree.add("x.txt", "2")
    with pytest.raises(RenderError):
        tree.add("../escape.txt", "2")


def test_corrupt_manifest_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "platform"
    (out / ".kubeplan").mkdir(parents=True)
    (out / ".kubeplan/manifest.json").write_text("{not json")
    with pytest.raises(UsageError):
        write_tree(OutputTree(), out)


def test_decision_warnings_reach_plan_and_record(tmp_path: Path) -> None:
    """A rule's warning is the decision's, listed in the plan and in its record, and is not
    smuggled through the parameters renderers read."""
    import yaml

    from .conftest import spec_with

    spec = tmp_path / "platform.yaml"
    spec.write_text(yaml.safe_dump(spec_with({
        "provider": "onprem", "regions": ["site-a"],
        "operations": {"kubernetes": "self-managed", "dedicatedPlatformTeam": False}})))
    out = tmp_path / "platform"
    assert main(["build", str(spec), "-o", str(out)]) == 0
    plan = json.loads((out / "plan.json").read_text())
    cluster = next(d for d in plan["decisions"] if d["block"] == "cluster")
    assert cluster["warnings"] and "warning" not in cluster["parameters"]
    assert cluster["warnings"][0] in plan["warnings"]
    assert cluster["warnings"][0] in (out / "docs/decisions/0002-cluster.md").read_text()


def test_a_pipeline_that_is_not_yaml_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    from kubeplan.check import delivery

    (tmp_path / "terraform").mkdir()
    broken = tmp_path / ".gitlab-ci.yml"
    broken.write_text("jobs: [\n")
    findings = delivery.gitlab_rules(tmp_path, [broken])
    assert [f.file for f in findings] == [".gitlab-ci.yml"]
    assert "not YAML" in findings[0].message
    assert delivery.terraform_references(tmp_path, [broken]) == []  # reported once, above
