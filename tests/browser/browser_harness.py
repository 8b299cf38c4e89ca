"""A real Chromium driven by Playwright for Python, and the checks every page visited passes.

The browser is the system's (Debian's ``chromium`` package; ``JOINTDESK_CHROMIUM`` names
another binary): Playwright's own browser download is not used. Without Playwright or a browser
the tests are skipped with the reason, or fail under ``JOINTDESK_REQUIRE_SERVICES``.

Every page visited (``Visit.check``) is checked for: errors on the browser console (a failed
request, such as a missing favicon, is one), horizontal scrolling (the page is wider than the
window), English left untranslated in the Chinese UI, and axe-core's serious or critical
accessibility violations (axe-core is vendored next to this file, ``axe.min.js``, MPL-2.0).
A screenshot of each is kept under ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
AXE = HERE / "axe.min.js"
ARTIFACTS = Path(os.environ.get("JOINTDESK_TEST_ARTIFACTS", ROOT / "test-artifacts"))
SCREENSHOTS = ARTIFACTS / "screenshots"

# Debian's chromium in a container: no sandbox (no user namespaces), no GPU, nothing fetched
# from Google's servers (they are not reachable and would only slow the start)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

VIEWPORTS = {"desktop": (1366, 900), "phone": (390, 844)}


def chromium_path() -> str | None:
    chosen = os.environ.get("JOINTDESK_CHROMIUM")
    if chosen:
        return chosen if Path(chosen).exists() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_problem() -> str | None:
    """Why no browser test can run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if chromium_path() is None:
        return "no Chromium browser (apt-get install chromium fonts-noto-cjk)"
    return None


# --- the untranslated-English heuristic -----------------------------------------------------

# two or more English words in a row ("Sign in", "No tickets.") in text a person reads
ENGLISH_RUN = re.compile(r"[A-Za-z][a-z]+(?:[ '\-][A-Za-z][a-z]+)+")
# what may be English in the Chinese UI (the switch to English is marked lang="en" instead)
ALLOWED_ENGLISH: set[str] = set()

# the visible text of the page and the texts a screen reader reads (labels, placeholders,
# alternative texts), without code, data marked translate="no", text marked as English (the
# language switch), scripts and styles
VISIBLE_TEXTS_JS = """
() => {
  const skip = "script, style, noscript, code, kbd, samp, [translate=no], [lang=en]";
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!el || el.closest(skip)) continue;
    if (el.checkVisibility && !el.checkVisibility()) continue;
    const text = node.textContent.trim();
    if (text) out.push(text);
  }
  for (const el of document.querySelectorAll("[placeholder], [aria-label], [title], img[alt]")) {
    if (el.closest(skip)) continue;
    for (const a of ["placeholder", "aria-label", "title", "alt"]) {
      const v = el.getAttribute(a);
      if (v && v.trim()) out.push(v.trim());
    }
  }
  for (const el of document.querySelectorAll("input[type=submit], input[type=button]")) {
    if (el.value) out.push(el.value);
  }
  out.push(document.title);
  return out;
}
"""


def untranslated(texts: list[str]) -> list[str]:
    """The runs of English words among ``texts`` (URLs, e-mail addresses, quoted commands and
    allowed words aside)."""
    found = []
    for text in texts:
        # commands quoted `like this` are code, not words to translate
        cleaned = re.sub(r"\S+://\S+|\S+@\S+|`[^`]*`?", " ", text)
        for match in ENGLISH_RUN.finditer(cleaned):
            if match.group(0) not in ALLOWED_ENGLISH:
                found.append(f"{match.group(0)!r} in {text[:80]!r}")
    return found


@dataclass
class Visit:
    """One browser tab of one person at one window size, collecting what went wrong."""

    page: object
    viewport: str
    who: str
    problems: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on(
            "console",
            lambda m: self.console.append(f"{m.type}: {m.text}") if m.type == "error" else None,
        )
        self.page.on("pageerror", lambda e: self.console.append(f"page error: {e}"))

    def goto(self, path: str, base: str) -> None:
        self.page.goto(base + path)

    def check(self, name: str, *, axe: bool = True) -> None:
        """Screenshot, then every check on the page shown now; problems are collected with the
        page's address so that one run lists them all."""
        page = self.page
        page.wait_for_load_state("load")
        where = f"[{self.viewport} {self.who} {name} {page.url}]"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"{self.viewport}-{self.who}-{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        self.shots.append(shot)
        if self.console:
            self.problems += [f"{where} console {c}" for c in self.console]
            self.console.clear()
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1]:
            self.problems.append(f"{where} scrolls sideways: {widths[0]} px in {widths[1]} px")
        self.problems += [
            f"{where} untranslated {u}" for u in untranslated(page.evaluate(VISIBLE_TEXTS_JS))
        ]
        if axe:
            self.problems += [f"{where} axe {v}" for v in axe_violations(page)]

    def check_english(self, name: str) -> None:
        """The page in English: no Chinese left in its labels, buttons, headers and menu."""
        page = self.page
        page.wait_for_load_state("load")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{self.viewport}-{self.who}-{name}-en.png"))
        where = f"[{self.viewport} {self.who} {name} en {page.url}]"
        self.problems += [
            f"{where} Chinese in the English UI {t!r}"
            for t in chinese_in_english(page.evaluate(UI_TEXTS_JS))
        ]


# the words of the UI itself (not the data shown in it): in English none may be Chinese but for
# a policy term quoted in brackets, such as 容缺
UI_TEXTS_JS = """
() => Array.from(document.querySelectorAll("label, button, th, legend, h2, nav a"))
  .filter(el => !el.closest("[translate=no], [lang^=zh]"))
  .map(el => el.innerText.trim()).filter(Boolean)
"""
CHINESE = re.compile(r"[\u3400-\u9fff]")


def chinese_in_english(texts: list[str]) -> list[str]:
    """The UI texts with Chinese in them, once bracketed terms are taken out."""
    return [t for t in texts if CHINESE.search(re.sub(r"[(（][^)）]*[)）]", "", t))]


def axe_violations(page) -> list[str]:
    """axe-core's serious and critical violations of the page (WCAG 2.1 A and AA rules)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {
            runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
            resultTypes: ["violations"],
          });
          return r.violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => v.id + " (" + v.impact + "): " + v.help + " — " +
                 v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "));
        }"""
    )
    return list(result)
