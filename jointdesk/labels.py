"""Human labels for the codes the policy uses, translated through Flask-Babel."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

SERVICE_LABELS = {
    "water": _l("Water"),
    "electricity": _l("Electricity"),
    "gas": _l("Gas"),
    "heat": _l("Heat"),
}
TICKET_STATUS_LABELS = {
    "dispatching": _l("Dispatching"),
    "queued": _l("Waiting to be accepted"),
    "accepted": _l("Accepted, in progress"),
    "suspended": _l("Suspended"),
    "connected": _l("Connected"),
    "returned": _l("Returned"),
}
CASE_STATUS_LABELS = {
    "received": _l("Received"),
    "in_progress": _l("In progress"),
    "partially_connected": _l("Partially connected"),
    "completed": _l("Completed"),
    "returned": _l("Returned"),
}
CHANNEL_LABELS = {
    "window": _l("Joint window"),
    "online": _l("Online"),
    "app": _l("Mobile app"),
    "approval_system": _l("Approval system push"),
}
STEP_LABELS = {"accept": _l("Accept application"), "connect": _l("Inspect and connect")}
ACTION_LABELS = {
    "accept": _l("Accept"),
    "connect": _l("Inspect and connect"),
    "return": _l("Return"),
    "suspend": _l("Suspend"),
    "resume": _l("Resume"),
    "assign": _l("Assign representative"),
    "permit_file": _l("Permit filed"),
    "permit_grant": _l("Permit granted"),
    "material_received": _l("Material handed over"),
    "material_waive": _l("Waive the material"),
    "contact": _l("Record contact with the applicant"),
}
EVENT_LABELS = {
    "case_created": _l("Application received"),
    "dispatched": _l("Delivered to the provider's queue"),
    "accept": _l("Accepted"),
    "connect": _l("Inspected and connected"),
    "return": _l("Returned"),
    "suspend": _l("Suspended"),
    "resume": _l("Resumed"),
    "assign": _l("Representative assigned"),
    "route_changed": _l("Routing changed"),
    "provider_created": _l("Provider added"),
    "provider_updated": _l("Provider changed"),
    "provider_prices_changed": _l("Published prices changed"),
    "user_created": _l("User created"),
    "login": _l("Signed in"),
    "login_failed": _l("Failed sign-in"),
    "permit_file": _l("Permit application filed"),
    "permit_grant": _l("Permit granted"),
    "material_received": _l("Missing material handed over"),
    "material_waive": _l("Missing material waived"),
    "contact": _l("Applicant contacted"),
    "default_representative": _l("Default representative set"),
    "sla_at_risk": _l("Time limit at risk"),
    "sla_overdue": _l("Time limit passed"),
    "calendar_changed": _l("Calendar changed"),
    "office_hours_changed": _l("Office hours changed"),
    "push_conflict": _l("Approval-system push with conflicting data refused"),
    "query_code_reissued": _l("New query code issued"),
    "permit_at_risk": _l("Permit approval time at risk"),
    "permit_overdue": _l("Permit approval time passed"),
    "provider_channel_changed": _l("Provider's ticket channel changed"),
    "delivery_redriven": _l("Failed delivery to another system queued again"),
    "callback_registered": _l("Approval-system callback address registered"),
    "callback_removed": _l("Approval-system callback address removed"),
}
PERMIT_LABELS = {
    "planning": _l("Planning permit"),
    "road_excavation": _l("Road excavation / occupation permit"),
    "tree_felling": _l("Tree felling / moving permit"),
    "green_space": _l("Green space occupation permit"),
    "commitment_filing": _l("Notification-and-commitment filing"),
}
SUSPENSION_REASON_LABELS = {
    "applicant_waiting": _l("Waiting for the applicant"),
    "applicant_construction": _l("The applicant's own construction"),
    "force_majeure": _l("Weather or force majeure"),
    "other": _l("Other (say why)"),
}
PERMIT_STATUS_LABELS = {
    "required": _l("Required"),
    "exempt": _l("Exempt"),
    "filed": _l("Filed"),
    "granted": _l("Granted"),
}
LIGHT_LABELS = {
    "on_time": _l("On time"),
    "at_risk": _l("At risk"),
    "overdue": _l("Overdue"),
}
FEE_BASIS_LABELS = {
    "supporting_fee_paid": _l("Special supporting fee already paid: no connection fee"),
    "published_price": _l("At the provider's published price and charging basis"),
    "low_risk_zero_investment": _l(
        "Low-risk simple project: works outside the building boundary at no cost"
    ),
    "no_external_works": _l("No external line works: nothing is built outside the boundary"),
}
FOUR_ZERO_LABELS = {
    "zero_materials": _l("Zero materials"),
    "zero_trips": _l("Zero trips"),
    "zero_approvals": _l("Zero approvals"),
    "zero_investment": _l("Zero investment"),
}
MATERIAL_LABELS = {"application_form": _l("Application form")}
APPLICANT_KIND_LABELS = {"person": _l("Person"), "enterprise": _l("Enterprise")}
ROLE_LABELS = {
    "clerk": _l("Window clerk"),
    "staff": _l("Provider staff"),
    "supervisor": _l("Supervisor"),
    "admin": _l("Administrator"),
    "integration": _l("Integration client (API only)"),
}


def service_label(code: str):
    return SERVICE_LABELS.get(code, code)


# the holiday names of the chinesecalendar library (English there); the statutory ones of
# years past its data come in Chinese already
HOLIDAY_LABELS = {
    "New Year's Day": _l("New Year's Day"),
    "Spring Festival": _l("Spring Festival"),
    "Tomb-sweeping Day": _l("Tomb-sweeping Day"),
    "Labour Day": _l("Labour Day"),
    "Dragon Boat Festival": _l("Dragon Boat Festival"),
    "National Day": _l("National Day"),
    "Mid-autumn Festival": _l("Mid-autumn Festival"),
    "Anti-Fascist 70th Day": _l("Anti-Fascist 70th Day"),
}
