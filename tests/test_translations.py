"""Every UI string has a Chinese translation, and the catalog is current with the code."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "jointdesk/translations/zh_Hans_CN/LC_MESSAGES/messages.po"


def test_every_message_in_the_code_is_translated_to_chinese():
    with PO.open("rb") as fh:
        catalog = read_po(fh)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    method_map = [("jointdesk/**.py", "python"), ("jointdesk/templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "ngettext": (1, 2)}
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    missing = sorted(found - translated)
    assert missing == [], f"untranslated: {missing}"
