"""What every browser test uses: Debian's Chromium by its path, a screenshot per
screen (``var/screenshots/``, git-ignored), an axe-core check per screen, and the
console watched for CSP violations and page errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

from shared.config import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
SCREENSHOTS = ROOT / "var" / "screenshots"
AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
#: axe impacts that fail a screen.
BLOCKING = {"serious", "critical"}


def shoot(page, name: str) -> Path:
    """A full-page screenshot of the current screen: var/screenshots/<name>.png, taken
    once the dialogs and toasts stopped moving."""
    settle_animations(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def settle_animations(page, timeout_ms: int = 5_000) -> None:
    """Wait until finite animations (a toast fading in, a drawer sliding) are over:
    axe measures contrast on what is painted, and half-faded text is not the screen."""
    page.wait_for_function(
        """() => document.getAnimations().every(a =>
            a.playState !== 'running' || a.effect?.getTiming().iterations === Infinity)""",
        timeout=timeout_ms,
    )


def check_axe(page, name: str) -> list[dict]:
    """Run axe-core on the screen; fail on serious or critical violations.

    axe is evaluated through the DevTools protocol (not a <script> tag), so the
    page's own CSP stays exactly as the gateway sends it.
    """
    settle_animations(page)
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }"""
    )
    blocking = [v for v in result if v["impact"] in BLOCKING]
    assert not blocking, f"axe on {name}: " + json.dumps(blocking, ensure_ascii=False, indent=1)
    return result


def screen(page, name: str) -> None:
    """Every screen gets both: the screenshot and the accessibility check."""
    shoot(page, name)
    check_axe(page, name)


class ConsoleWatch:
    """Collects CSP violations and uncaught errors of a page."""

    def __init__(self, page):
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))

    def _console(self, message) -> None:
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            self.problems.append(f"csp: {text}")

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)
