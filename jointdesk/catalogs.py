"""The compiled message catalogs (``.mo``) and WTForms' messages in the app's words.

Every install must speak Chinese. A wheel or ``pip install .`` gets its ``.mo`` files from the
build hook (``setup.py``); ``make install`` compiles them in place. An editable install made by
``pip install -e .`` alone has only the ``.po`` sources, and so does a checkout whose ``.po`` is
newer than its ``.mo`` (after a merge): ``catalog_directory`` compiles what is missing or stale
at start-up, next to the sources when they are writable, else into the instance folder.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def _stale(po: Path, mo: Path) -> bool:
    return not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime


def _compile(po: Path, mo: Path) -> None:
    """``po`` compiled to ``mo``, atomically (several processes may start at once)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as source:
        catalog = read_po(source)
    mo.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=".messages-", suffix=".mo")
    try:
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog, use_fuzzy=True)
        os.replace(tmp, mo)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def catalog_directory(source: Path, fallback: Path) -> Path:
    """The directory to load the catalogs from: ``source`` when every ``.mo`` there is up to
    date (made so if it can be), else ``fallback`` with the catalogs compiled into it."""
    pos = sorted(source.glob("*/LC_MESSAGES/*.po"))
    stale = [po for po in pos if _stale(po, po.with_suffix(".mo"))]
    if not stale:
        return source
    try:
        for po in stale:
            _compile(po, po.with_suffix(".mo"))
        return source
    except OSError:  # an installed package is read-only: compile into the fallback
        pass
    for po in pos:
        mo = fallback / po.relative_to(source).with_suffix(".mo")
        if _stale(po, mo):
            _compile(po, mo)
    log.info("message catalogs compiled into %s", fallback)
    return fallback


def app_words_for_form_messages() -> None:
    """WTForms' own messages ("This field is required.") as this app's catalog words them, so
    that every form says "required" the same way; others as WTForms' catalog has them."""
    import flask_wtf.form
    from flask_babel import gettext
    from flask_wtf.i18n import Translations

    class AppFirst(Translations):
        def gettext(self, string):
            ours = gettext(string)
            return ours if ours != string else super().gettext(string)

    flask_wtf.form.translations = AppFirst()
