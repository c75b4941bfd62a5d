"""Contract tests cover every selectable model and frontend, because their parameters come from the config tree."""

import shutil
from pathlib import Path

from serlab.configs import CONFIG_DIR
from tests.features import test_frontends
from tests.models import test_classifier
from tests.options import options


def parameters(test, name: str) -> set[str]:
    """The values a test is parametrised with for argument `name`."""
    values = set()
    for mark in (m for m in test.pytestmark if m.name == "parametrize"):
        argnames = mark.args[0].split(",") if isinstance(mark.args[0], str) else mark.args[0]
        names = [n.strip() for n in argnames]
        if name in names:
            values |= {v[names.index(name)] if len(names) > 1 else v for v in mark.args[1]}
    return values


def yaml_options(group: str) -> set[str]:
    """The group's YAML files as a user sees them in configs/, internal ones (a leading `_`) left out."""
    return {p.stem for p in Path(CONFIG_DIR, group).glob("*.yaml") if not p.name.startswith("_")}


def test_every_model_yaml_has_contract_tests():
    contracts = [
        test_classifier.test_padding_never_changes_a_prediction,
        test_classifier.test_overfits_a_small_batch,
        test_classifier.test_every_pairing_builds_or_is_refused_saying_what_to_choose,
        test_classifier.test_frame_level_heads_score_every_frame_or_are_refused,
    ]
    assert "fusion" in yaml_options("model")
    for test in contracts:
        assert parameters(test, "model") >= yaml_options("model"), test.__name__


def test_every_frontend_yaml_has_contract_tests():
    assert parameters(test_frontends.test_padding_does_not_change_features, "name") == yaml_options("frontend")


def test_a_new_yaml_file_is_a_new_option(tmp_path):
    configs = Path(shutil.copytree(CONFIG_DIR, tmp_path / "configs"))
    (configs / "model" / "tiny.yaml").write_text("_target_: serlab.models.blstm.BLSTM\n_partial_: true\n")
    (configs / "model" / "_shared.yaml").write_text("hidden: 8\n")
    assert options("model", configs) == sorted([*options("model"), "tiny"])
