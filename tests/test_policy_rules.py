"""Permits, fees, materials, trips, four-zero and the traffic light, at their boundaries."""

import pytest

from jointdesk.policy.process import (
    ActionNotAllowed,
    ProjectFacts,
    applicant_trips,
    connection_fee,
    four_zero,
    materials_required,
    next_permit_status,
    outside_boundary_investment,
    permit_plan,
    permits_pending,
    traffic_light,
    worst_light,
)


def facts(**kw):
    base = {"external_works": True, "pipeline_length_m": 100.0}
    base.update(kw)
    return ProjectFacts(**base)


@pytest.mark.parametrize(
    "length,low_risk,expected",
    [
        (149, False, {"planning": "exempt"}),
        (150, False, {"planning": "exempt"}),  # "150米以下" includes 150
        (150.0001, False, {"planning": "required"}),
        (151, False, {"planning": "required"}),
        (
            149,
            True,
            {
                "planning": "exempt",
                "road_excavation": "exempt",
                "tree_felling": "exempt",
                "green_space": "exempt",
                "commitment_filing": "filed",
            },
        ),
        (
            150,
            True,
            {
                "planning": "exempt",
                "road_excavation": "exempt",
                "tree_felling": "exempt",
                "green_space": "exempt",
                "commitment_filing": "filed",
            },
        ),
        (151, True, {"planning": "required"}),  # over 150 m the low-risk exemption ends
    ],
)
def test_permit_plan_boundaries(length, low_risk, expected):
    assert permit_plan(facts(pipeline_length_m=length, low_risk=low_risk), "water") == expected


def test_road_tree_and_green_space_permits_when_the_works_involve_them():
    plan = permit_plan(
        facts(
            pipeline_length_m=151, excavates_road=True, moves_trees=True, occupies_green_space=True
        ),
        "water",
    )
    assert plan == {
        "planning": "required",
        "road_excavation": "required",
        "tree_felling": "required",
        "green_space": "required",
    }
    low = permit_plan(facts(pipeline_length_m=150, low_risk=True, excavates_road=True), "gas")
    assert low["road_excavation"] == "exempt" and low["commitment_filing"] == "filed"


def test_no_external_works_no_permits():
    assert permit_plan(facts(external_works=False, pipeline_length_m=500), "water") == {}


def test_permit_transitions():
    assert next_permit_status("required", "permit_file") == "filed"
    assert next_permit_status("filed", "permit_grant") == "granted"
    for status, action in (
        ("exempt", "permit_file"),
        ("required", "permit_grant"),
        ("granted", "permit_grant"),
        ("filed", "permit_file"),
    ):
        with pytest.raises(ActionNotAllowed):
            next_permit_status(status, action)


def test_fees_with_their_basis():
    assert connection_fee(facts(supporting_fee_paid=True)).amount == 0
    assert connection_fee(facts(supporting_fee_paid=True)).basis == "supporting_fee_paid"
    assert connection_fee(facts()).amount is None
    assert outside_boundary_investment(facts(low_risk=True), "water").amount == 0
    assert outside_boundary_investment(facts(low_risk=True), "gas").amount == 0
    # "建筑边界外用水用气零投资": water and gas only
    assert outside_boundary_investment(facts(low_risk=True), "heat").amount is None
    assert outside_boundary_investment(facts(low_risk=True), "electricity").amount is None
    assert outside_boundary_investment(facts(low_risk=False), "water").basis == "published_price"


def test_materials_and_trips_by_channel():
    assert materials_required("window") == ("application_form",) and applicant_trips("window") == 1
    assert materials_required("window", "2026-410105-47-01-001234") == ()  # data is shared
    for channel in ("online", "app", "approval_system"):
        assert materials_required(channel) == () and applicant_trips(channel) == 0


def test_four_zero():
    pushed = facts(channel="approval_system", low_risk=True, pipeline_length_m=120)
    assert four_zero(pushed, ["water", "gas"]).all
    assert not four_zero(pushed, ["water", "heat"]).all  # heat is not zero investment
    assert not four_zero(
        facts(channel="window", low_risk=True, pipeline_length_m=120), ["water"]
    ).all
    online = four_zero(facts(channel="online", low_risk=True, pipeline_length_m=120), ["water"])
    assert not online.zero_materials and online.zero_trips  # 零材料 means pushed
    long = four_zero(
        facts(channel="approval_system", low_risk=True, pipeline_length_m=151), ["gas"]
    )
    assert not long.zero_approvals and long.zero_investment and not long.all


def test_permits_pending_ignores_exempt_and_the_commitment_filing():
    assert permits_pending({"planning": "exempt", "commitment_filing": "filed"}) == []
    assert permits_pending({"planning": "filed", "road_excavation": "granted"}) == ["planning"]
    with pytest.raises(ActionNotAllowed):
        next_permit_status("filed", "permit_grant", "commitment_filing")


@pytest.mark.parametrize(
    "limit,remaining,past,light",
    [
        (100, 100, False, "on_time"),
        (100, 26, False, "on_time"),
        (100, 25, False, "at_risk"),
        (100, 0, False, "at_risk"),
        (100, 0, True, "overdue"),
    ],
)
def test_traffic_light_turns_at_75_percent(limit, remaining, past, light):
    assert traffic_light(limit, remaining, past) == light


def test_worst_light():
    assert worst_light(["on_time", "overdue", "at_risk"]) == "overdue"
    assert worst_light([]) == "on_time"


def test_the_rules_are_pure():
    """The policy package imports nothing from Flask or the database layer."""
    import ast
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "jointdesk" / "policy"
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(("flask", "sqlalchemy", "jointdesk.models")), (
                    path,
                    name,
                )
