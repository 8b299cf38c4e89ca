"""A believable disclosure catalog and a few outage notices for ``jointdesk demo``.

The figures, document numbers and outlets are examples written for the demo, marked as such on
the public pages; a real deployment's staff write their own. Only empty, unpublished items are
filled, so an item a person has written is never overwritten.
"""

from __future__ import annotations

from datetime import timedelta

from jointdesk.disclosure import services as ds
from jointdesk.extensions import db
from jointdesk.models import DisclosureItem, District, OutageNotice, Provider, User
from jointdesk.models.types import utcnow

DEMO_NOTE = "（演示数据：内容为示例，并非该单位公示的真实信息。）"

OVERVIEW = {
    "zz-water": (
        "郑州自来水投资控股有限公司是郑州市城区供水的国有骨干企业，负责市区原水取用、"
        "自来水生产与输配、供水设施建设维护及用户服务。\n\n"
        "企业领导：董事长、总经理各1名，副总经理3名，分管生产运行、管网工程与客户服务。\n\n"
        "组织机构：综合办公室、生产调度中心、水质监测中心、管网管理分公司、客户服务中心、"
        "工程建设分公司；下设柿园、白庙、石佛、东周等水厂。"
    ),
    "zz-power": (
        "国网河南省电力公司郑州供电公司负责郑州市区及所辖县（市）电网的规划建设、运行维护"
        "和电力供应服务。\n\n企业领导：总经理1名，副总经理4名。\n\n"
        "组织机构：办公室、发展策划部、运维检修部、营销部（客户服务中心）、电力调度控制中心，"
        "下设各区县供电公司及城区供电服务中心。"
    ),
    "zz-gas": (
        "郑州华润燃气股份有限公司经营郑州市区管道天然气的输配、销售与服务，承担城市燃气"
        "设施的建设、运行与安全管理。\n\n企业领导：董事长1名，总经理1名，副总经理3名。\n\n"
        "组织机构：综合管理部、输配运行部、安全技术部、工程管理部、客户服务中心，"
        "下设各区域营业所与抢修中心。"
    ),
    "zz-heat": (
        "郑州热力集团有限公司负责郑州市区集中供热热源调度、热网建设与运行，以及热用户的"
        "报装、收费和维修服务。\n\n企业领导：董事长1名，总经理1名，副总经理3名。\n\n"
        "组织机构：办公室、生产运行部、管网管理部、工程部、客户服务中心，下设各供热分公司。"
    ),
}

PRICES = {
    "water": (
        "居民生活用水实行阶梯水价（按户年用水量计）：\n"
        "第一阶梯 0～180立方米（含）：3.90元/立方米（水费2.85元、污水处理费1.05元）\n"
        "第二阶梯 181～300立方米（含）：5.33元/立方米（水费4.28元、污水处理费1.05元）\n"
        "第三阶梯 300立方米以上：9.60元/立方米（水费8.55元、污水处理费1.05元）\n"
        "非居民用水：4.90元/立方米；特种用水：15.00元/立方米。\n"
        "维修服务：户表以内维修按《郑州市供水维修服务收费标准》执行，表前设施维修不收费。\n\n"
        "收费依据：《城镇供水价格管理办法》（国家发展改革委、住房城乡建设部令第46号）；"
        "《关于加快建立完善城镇居民用水阶梯价格制度的指导意见》（发改价格〔2013〕2676号）；"
        "郑州市发展和改革委员会《关于调整郑州市区城市供水价格的通知》。"
    ),
    "electricity": (
        "居民生活用电实行阶梯电价（按月用电量计）：\n"
        "第一档 0～180千瓦时：0.56元/千瓦时\n"
        "第二档 181～260千瓦时：0.61元/千瓦时\n"
        "第三档 260千瓦时以上：0.86元/千瓦时\n"
        "一般工商业及其他用电按河南省电网销售电价表执行。\n\n"
        "收费依据：《关于居民生活用电试行阶梯电价的指导意见》（发改价格〔2011〕2617号）；"
        "河南省发展和改革委员会关于河南电网销售电价的通知。"
    ),
    "gas": (
        "居民生活用气实行阶梯气价（按户年用气量计）：\n"
        "第一档 0～300立方米（含）：2.56元/立方米\n"
        "第二档 301～600立方米（含）：3.07元/立方米\n"
        "第三档 600立方米以上：3.84元/立方米\n"
        "非居民用气：3.45元/立方米。户内燃气设施维修材料费按实收取，上门服务不收费。\n\n"
        "收费依据：《城镇燃气管理条例》；《关于建立健全居民生活用气阶梯价格制度的指导意见》"
        "（发改价格〔2014〕467号）；郑州市发展和改革委员会关于郑州市区管道天然气价格的通知。"
    ),
    "heat": (
        "居民住宅：按建筑面积收费，4.00元/平方米·月，一个采暖季按4个月计收。\n"
        "非居民：按建筑面积收费，6.40元/平方米·月。\n"
        "安装热计量表并按热量计费的用户，按两部制热价结算。\n\n"
        "收费依据：《城市供热价格管理暂行办法》（发改价格〔2007〕1195号）；"
        "郑州市发展和改革委员会关于郑州市区集中供热价格的通知。"
    ),
}

NAMES = {"water": "供水", "electricity": "供电", "gas": "供气", "heat": "供热"}


def _connection(service: str) -> str:
    name = NAMES[service]
    return (
        f"{name}报装两个环节：\n"
        "1. 受理申请：无外线工程的不超过0.5个工作日，有外线工程的不超过1个工作日；\n"
        "2. 验收接通：无外线工程的不超过0.5个工作日，有外线工程的不超过1个工作日。\n"
        "全程时限：无外线工程不超过1个工作日，有外线工程不超过2个工作日。\n\n"
        "所需材料：申请表1份。通过网上报装、手机APP或工程建设项目审批管理系统推送的，"
        "零材料。\n\n"
        "办理渠道：郑州市政务服务中心“水电气暖”联办窗口、本公司营业厅、郑州市政务服务网"
        "“水电气暖服务专区”、本系统网上报装页面。涉及规划、道路挖掘、占用绿地等审批的，"
        "由本公司负责申办。"
    )


def _procedures(service: str, phone: str) -> str:
    name = NAMES[service]
    return (
        f"缴费：营业厅现金或刷卡、微信公众号、支付宝生活缴费、银行代扣均可缴纳{name}费用。\n"
        f"维修：拨打{phone}报修，或在微信公众号提交报修单，维修人员按约定时间上门。\n"
        "营业时间：周一至周日 8:30—17:30（法定节假日另行公告）。\n"
        "服务网点：金水区花园路营业厅、中原区建设路营业厅、二七区大学路营业厅、"
        "郑东新区商务内环营业厅。"
    )


def _standards(service: str) -> str:
    return (
        "服务承诺：报装全程按本页公示时限办结；报修30分钟内响应，市区2小时内到达现场；"
        "计划停止供应提前24小时公告；投诉5个工作日内答复。\n"
        "未按承诺办理的，用户可拨打监督投诉电话，核实后由本公司向用户致歉并限期整改。"
    )


def _outages(service: str) -> str:
    name = NAMES[service]
    return (
        f"计划停{name[-1]}至少提前24小时通过本页、微信公众号及小区公告栏告知影响范围和时间；"
        "突发停止供应在抢修开始后1小时内发布。恢复供应后在本页更新实际恢复时间。"
    )


def _inspection(service: str) -> str:
    return (
        "巡检：主干管网每周巡检一次，重点区域每日巡查；用户设施每年至少入户安全检查一次。\n"
        "抄表：居民用户每两个月抄表一次，智能表用户按月远传抄表；抄表人员佩戴工作证上门。"
    )


SAFETY = {
    "water": "冬季做好水表及外露管道防冻保温；长期外出请关闭总阀；发现管道漏水及时报修；"
    "不得私自改动表前管道。",
    "electricity": "不私拉乱接电线；电动自行车不在楼道、室内充电；发现电线落地请远离并"
    "报修；家用电器使用完毕及时断电。",
    "gas": "使用燃气时保持通风，人走火灭；定期检查胶管是否老化、松动，胶管使用不超过18个月；"
    "闻到燃气异味，立即关闭阀门、开窗通风，严禁开关电器，到室外拨打抢修电话。",
    "heat": "不得私自改动、拆除供热设施；不得在暖气片上晾晒易燃物品；发现管道漏水请关闭阀门"
    "并报修；家中无人时注意防冻。",
}

REGULATIONS = {
    "water": "《城市供水条例》；《城镇供水价格管理办法》；《生活饮用水卫生标准》（GB 5749）；"
    "《城镇供水服务》（GB/T 32063）；《郑州市城市供水管理条例》。",
    "electricity": "《中华人民共和国电力法》；《电力供应与使用条例》；《供电营业规则》；"
    "《供电监管办法》。",
    "gas": "《城镇燃气管理条例》；《河南省城镇燃气管理办法》；《城镇燃气设计规范》（GB 50028）；"
    "《燃气服务导则》（GB/T 28885）。",
    "heat": "《河南省城市集中供热管理办法》；《郑州市城市集中供热管理条例》；"
    "《城镇供热服务》（GB/T 33833）。",
}

WATER_QUALITY = (
    "出厂水每日检测浑浊度、余氯等9项指标，管网水每月检测；全部指标符合《生活饮用水卫生标准》"
    "（GB 5749—2022）。上月出厂水浑浊度平均0.12NTU，余氯平均0.65mg/L，管网水合格率100%。"
)

HEATING_PERIOD = (
    "法定供热期：每年11月15日至次年3月15日，共121天（闰年122天）。遇极端天气，经市政府"
    "批准可提前或延长供热，另行公告。\n"
    "供热收费起止日期：每年9月1日起收取当季采暖费，11月14日前缴清；延长供热期间不另行收费。"
)


def _phones(phone: str) -> str:
    return (
        f"咨询服务电话：{phone}\n报修和救援电话：{phone}（24小时）\n"
        "监督投诉电话：12345（郑州市民服务热线）、12319（城市管理服务热线）"
    )


def demo_body(provider: Provider, scope: str, kind: str) -> str | None:
    """The demo's text for one item, or None where the demo has none."""
    phone = provider.phone or "12345"
    if scope == "company":
        text = OVERVIEW.get(provider.code)
        return text and text + "\n\n" + DEMO_NOTE
    texts = {
        "prices": lambda: PRICES[scope] + "\n\n" + DEMO_NOTE,
        "connection_procedure": lambda: _connection(scope),
        "service_procedures": lambda: _procedures(scope, phone),
        "service_standards": lambda: _standards(scope),
        "outages": lambda: _outages(scope),
        "inspection": lambda: _inspection(scope),
        "water_quality": lambda: WATER_QUALITY + "\n\n" + DEMO_NOTE,
        "safety": lambda: SAFETY[scope],
        "heating_period": lambda: HEATING_PERIOD,
        "phones": lambda: _phones(phone),
        "regulations": lambda: REGULATIONS[scope],
    }
    make = texts.get(kind)
    return make() if make and scope in NAMES else None


def fill_catalog(actor: str = "demo") -> int:
    """Writes and publishes every empty, unpublished item of the default providers."""
    ds.ensure_catalog()
    filled = 0
    items = db.session.execute(
        db.select(DisclosureItem)
        .join(Provider)
        .where(Provider.code.in_(OVERVIEW), DisclosureItem.published.is_(False))
    ).scalars()
    for item in list(items):
        if item.body:
            continue
        body = demo_body(item.provider, item.scope, item.kind)
        if not body:
            continue
        ds.edit_item(item, item.title, body, actor, None)
        ds.set_published(item, True, actor, None)
        filled += 1
    db.session.commit()
    return filled


def add_outages() -> int:
    """One current, one restored and one planned notice, all published."""
    now = utcnow().replace(second=0, microsecond=0)
    districts = {d.name: d.id for d in db.session.execute(db.select(District)).scalars()}
    staff = {
        u.provider.code: u
        for u in db.session.execute(db.select(User).where(User.role == "staff")).scalars()
        if u.provider is not None
    }
    plans = [
        (
            "zz-water",
            "water",
            False,
            "花园路供水管道爆管抢修停水",
            "花园路与农业路交叉口周边：花园路12号院、农业路东区、丰产路部分小区",
            "DN300供水管道突发爆管，正在抢修。",
            now - timedelta(hours=2),
            now + timedelta(hours=6),
            None,
            ["金水区", "郑东新区"],
        ),
        (
            "zz-power",
            "electricity",
            True,
            "大学路10千伏线路检修停电",
            "大学路45号至73号沿线居民及商户",
            "10千伏大学路线路计划检修。",
            now - timedelta(days=3, hours=8),
            now - timedelta(days=3),
            now - timedelta(days=3, hours=1),
            ["二七区"],
        ),
        (
            "zz-gas",
            "gas",
            True,
            "建设路中压燃气管道改线计划停气",
            "建设路88号至棉纺路段，含建设路88号院、桐柏路北段部分小区",
            "配合道路改造，中压燃气管道改线碰口。",
            now + timedelta(days=3),
            now + timedelta(days=3, hours=10),
            None,
            ["中原区", "郑州高新技术产业开发区"],
        ),
    ]
    added = 0
    for code, service, planned, title, area, reason, start, expected, restored, names in plans:
        provider = db.session.execute(
            db.select(Provider).where(Provider.code == code)
        ).scalar_one_or_none()
        actor = staff.get(code)
        ids = [districts[n] for n in names if n in districts]
        if provider is None or actor is None or not ids:
            continue
        if service not in ds.provider_services(provider.id):
            continue
        data = ds.OutageInput(
            service=service,
            planned=planned,
            title=title,
            area=area,
            reason=reason,
            starts_at=start,
            expected_restore_at=expected,
            restored_at=restored,
            district_ids=ids,
        )
        notice = ds.save_outage(provider, data, actor)
        ds.set_outage_published(notice, True, actor, None)
        added += 1
    return added


def load_demo_disclosure() -> tuple[int, int]:
    """The catalog always (only empty items); the notices once per database."""
    filled = fill_catalog()
    added = 0
    if not db.session.execute(db.select(OutageNotice.id).limit(1)).first():
        added = add_outages()
    return filled, added
