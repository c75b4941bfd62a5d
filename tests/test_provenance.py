"""Runs record what produced them, and dashboards get per-class recall."""

import json
import re

from serlab.cli.train import train
from serlab.provenance import git_commit, provenance
from tests.conftest import compose_train


def test_git_commit_outside_a_checkout_is_none(tmp_path):
    assert git_commit(tmp_path) is None


def test_a_run_records_its_commit_versions_and_per_class_recall(tmp_path, data_dir):
    metrics = train(compose_train(tmp_path, data_dir, "debug=fdr"))
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["provenance"] == provenance()
    commit = record["provenance"]["git_commit"]
    # this test runs from a checkout; a wheel install would record None
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit)
    assert record["provenance"]["torch_version"]
    recalls = {k for k in metrics if k.startswith("test/recall_")}
    assert recalls and recalls <= {f"test/recall_{c}" for c in record["classes"]}
