"""What every provider must publish: the mandatory disclosure catalog, as data.

Source: the city's decision (section 二, 处理意见 (三)) that orders every water, gas and heat
company to publish, under 《供水、供气、供热等公用事业单位信息公开实施办法》 art. 7, at least:

- 企业概况: company introduction, leadership, organisation and functions;
- per service: (1) sales prices, repair and service price standards and their legal basis;
  (2) the connection (报装) procedure; (3) payment, repair and service procedures, hours, outlets,
  service standards and commitments; (4) outage and restoration notices, inspection and
  meter-reading information; (5) water quality (water) / safety rules, tips and warnings;
  (6) consultation, repair/rescue and complaint phone numbers; for heat also the legal heating
  period and the start and end dates of heating charges;
- the rules and standards that govern the service.

Electricity is not named in that regulation, but the joint window serves it under the same
"一窗受理" promise, so its provider publishes the same catalog without water quality and
heating period. Outage and restoration notices are published one by one as structured notices
(``OutageNotice``); the catalog item ``outages`` tells the public how and where notices appear
and how restoration is reported.

Pure: no Flask, no database. Each item is identified by (scope, kind): scope is ``company`` for
the company-level items and the service's code for the others.
"""

from __future__ import annotations

from dataclasses import dataclass

COMPANY = "company"
SERVICES = ("water", "electricity", "gas", "heat")

# The policy's deadline for a provider to have its catalog online, counted in calendar days from
# the day the catalog was created for it (责令……于10日内建立企业网站……确定主动公开的信息目录).
PUBLISH_DEADLINE_DAYS = 10

# An item not updated for this many days is stale unless the administrator sets another period.
DEFAULT_STALE_DAYS = 365


@dataclass(frozen=True)
class CatalogItem:
    kind: str
    title: str  # the item's title in Chinese, as the regulation words it
    services: tuple[str, ...]  # the services it applies to; () for the company-level items
    hint: str  # what the item must contain, shown to the provider's staff while editing

    @property
    def company_level(self) -> bool:
        return not self.services


CATALOG: tuple[CatalogItem, ...] = (
    CatalogItem(
        "overview",
        "企业概况",
        (),
        "企业简介、企业领导简介、企业组织机构设置及职能",
    ),
    CatalogItem(
        "prices",
        "销售价格、服务价格标准及收费依据",
        SERVICES,
        "销售价格，维修及相关服务价格标准，有关收费依据（文件名称与文号）",
    ),
    CatalogItem(
        "connection_procedure",
        "申请报装工作程序",
        SERVICES,
        "报装环节、各环节办理时限、所需材料（申请表1份；线上及工建系统推送零材料）、办理渠道",
    ),
    CatalogItem(
        "service_procedures",
        "缴费、维修及相关服务办理程序",
        SERVICES,
        "缴费、维修及相关服务的办理程序、办理时间、服务网点设置",
    ),
    CatalogItem(
        "service_standards",
        "服务标准及承诺",
        SERVICES,
        "服务标准、服务承诺及未履行承诺时的处理",
    ),
    CatalogItem(
        "outages",
        "停止及恢复供应信息发布方式",
        SERVICES,
        "计划停止供应的提前告知时间与渠道、恢复供应信息的发布方式（具体通知逐条发布）",
    ),
    CatalogItem(
        "inspection",
        "巡检及查表信息",
        SERVICES,
        "设施巡检安排、抄表周期与方式",
    ),
    CatalogItem(
        "water_quality",
        "水质信息",
        ("water",),
        "出厂水、管网水水质检测结果及检测频次",
    ),
    CatalogItem(
        "safety",
        "安全使用规定、常识和安全提示",
        SERVICES,
        "设施安全使用规定、常识和安全提示",
    ),
    CatalogItem(
        "heating_period",
        "法定供热时间及供热收费起止日期",
        ("heat",),
        "法定供热期起止日期、供热收费的起止日期",
    ),
    CatalogItem(
        "phones",
        "咨询、报修救援及监督投诉电话",
        SERVICES,
        "咨询服务电话、报修和救援电话、监督投诉电话",
    ),
    CatalogItem(
        "regulations",
        "相关规定和标准",
        SERVICES,
        "与本项服务有关的法规、规定和标准",
    ),
)

BY_KIND: dict[str, CatalogItem] = {item.kind: item for item in CATALOG}


def mandatory_items(
    services: list[str] | tuple[str, ...] | set[str],
) -> list[tuple[str, CatalogItem]]:
    """The (scope, item) pairs a provider serving ``services`` must publish, in catalog order:
    the company-level items once, then each service's items in the services' fixed order."""
    wanted = [code for code in SERVICES if code in set(services)]
    pairs: list[tuple[str, CatalogItem]] = [
        (COMPANY, item) for item in CATALOG if item.company_level
    ]
    for service in wanted:
        pairs.extend((service, item) for item in CATALOG if service in item.services)
    return pairs


def is_mandatory(scope: str, kind: str) -> bool:
    item = BY_KIND.get(kind)
    if item is None:
        return False
    return (scope == COMPANY) == item.company_level and (scope == COMPANY or scope in item.services)
