"""Pareto fronts of UAR against cost, worked out by hand, and the page that shows them."""

import math

from serlab.reports.pareto import System, costs_present, front, pareto_table, write_pareto

SYSTEMS = [
    System("teacher", 0.88, 0.06, {"params": 8e6, "latency_ms": 40.0}),
    System("student", 0.70, 0.10, {"params": 2e5, "latency_ms": 3.0}),
    System("pruned", 0.69, 0.10, {"params": 2e5, "latency_ms": 3.0}),  # as costly as the student, worse
    System("big_crnn", 0.65, 0.12, {"params": 5e5, "latency_ms": 2.0}),  # slower to train, faster to run
    System("unknown_speed", 0.99, None, {"params": 9e6}),
]


def test_the_front_keeps_exactly_the_undominated_systems_cheapest_first():
    assert [s.name for s in front(SYSTEMS, "params")] == ["student", "teacher", "unknown_speed"]
    # a system that does not know the cost takes no part in that front
    assert [s.name for s in front(SYSTEMS, "latency_ms")] == ["big_crnn", "student", "teacher"]


def test_equal_systems_both_stay_on_the_front():
    twins = [System("a", 0.7, None, {"params": 1.0}), System("b", 0.7, None, {"params": 1.0})]
    assert [s.name for s in front(twins, "params")] == ["a", "b"]
    assert front([System("nan", 0.5, None, {"params": math.nan})], "params") == []


def test_the_table_marks_front_members_per_cost_and_unknown_costs():
    costs = costs_present(SYSTEMS)
    assert costs == ["params", "latency_ms"]
    rows = {row[0]: row for row in pareto_table(SYSTEMS, costs).rows}
    assert rows["student"][1] == "0.700 ± 0.100" and rows["student"][2].endswith("★")
    assert not rows["pruned"][2].endswith("★") and not rows["pruned"][3].endswith("★")
    assert rows["big_crnn"][3].endswith("★") and not rows["big_crnn"][2].endswith("★")
    assert rows["unknown_speed"][3] == "—"
    assert pareto_table(SYSTEMS, costs).rows[0][0] == "unknown_speed"  # most accurate first


def test_the_page_embeds_the_plot_and_the_table(tmp_path):
    page = tmp_path / "green" / "pareto.html"
    write_pareto(SYSTEMS, page, "Green SER", ["a note"])
    text = page.read_text()
    assert "data:image/png;base64," in text and "a note" in text and "big_crnn" in text
    assert page.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
