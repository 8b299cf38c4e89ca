"""Issue 7 item 7: the permit rule applies to the services its text names.

The policy (二(二), 压减审批时限): "将水气报装工程涉及规划、道路挖掘(占用)、砍伐树木、
占用绿地等行政审批的,由供水、燃气经营企业负责申办,办理部门并联审批、容缺受理,3个工作日内
办结;150米以下的管线工程建设项目及其附属设施,实行规划许可豁免". It names 水气报装工程 and
供水、燃气经营企业: water and gas tickets get the provider-filed permits; electricity and heat
tickets get none, since nothing in the policy makes their provider file permits or limits the
approvals' time. 零审批 (四零服务) is promised to "附属小型供水、供气、排水设施接入服务" only, so
a case with electricity or heat external works is not zero-approval.
"""

import pytest

PLANNING_ROAD = {"planning": "required", "road_excavation": "required"}
FILING = {
    "planning": "exempt",
    "road_excavation": "exempt",
    "tree_felling": "exempt",
    "green_space": "exempt",
    "commitment_filing": "filed",
}


@pytest.mark.parametrize(
    "project,expected,zero_approvals",
    [
        # 300 m, digs up a road, not low-risk: water and gas need planning (over 150 m) and
        # road permits; electricity and heat are outside the rule
        (
            {"external_works": True, "pipeline_length_m": 300, "excavates_road": True},
            {"water": PLANNING_ROAD, "gas": PLANNING_ROAD, "electricity": {}, "heat": {}},
            False,
        ),
        # 120 m, no road: "150米以下...规划许可豁免" → planning exempt for water and gas
        (
            {"external_works": True, "pipeline_length_m": 120},
            {
                "water": {"planning": "exempt"},
                "gas": {"planning": "exempt"},
                "electricity": {},
                "heat": {},
            },
            False,  # electricity and heat works: no rule says they need no approvals
        ),
        # low-risk, 150 m: "社会投资简易低风险项目推行零审批，实行告知承诺备案制" for water and gas
        (
            {"external_works": True, "pipeline_length_m": 150, "low_risk": True},
            {"water": FILING, "gas": FILING, "electricity": {}, "heat": {}},
            False,
        ),
        # no external works: no permits for anyone, and no approvals at all
        (
            {"external_works": False, "pipeline_length_m": None},
            {"water": {}, "gas": {}, "electricity": {}, "heat": {}},
            True,
        ),
    ],
)
def test_permits_follow_the_service(submit, project, expected, zero_approvals):
    body = submit(
        project={
            "approval_system_code": None,
            "low_risk": False,
            "supporting_fee_paid": False,
            **project,
        }
    )
    plans = {t["service"]: {p["kind"]: p["status"] for p in t["permits"]} for t in body["tickets"]}
    assert plans == expected
    assert body["indicators"]["four_zero"]["zero_approvals"] is zero_approvals
    needed = {t["service"]: t["permits_needed"] for t in body["indicators"]["tickets"]}
    assert needed == {s: sum(v == "required" for v in p.values()) for s, p in expected.items()}


def test_water_and_gas_only_low_risk_case_is_zero_approval(submit):
    """The same low-risk 150 m project asking for water and gas only: every permit is replaced
    by the filing, so 零审批 holds."""
    body = submit(
        services=["water", "gas"],
        project={
            "approval_system_code": None,
            "low_risk": True,
            "external_works": True,
            "pipeline_length_m": 150,
            "supporting_fee_paid": False,
        },
    )
    assert body["indicators"]["four_zero"]["zero_approvals"] is True
