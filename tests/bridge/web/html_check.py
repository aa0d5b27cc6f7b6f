"""Checks every page of the web UI must pass (docs/web-ui.md), for the page tests to share:
``problems(html)`` lists what is wrong, ``[]`` when nothing is.

- tags balanced (every non-void element closed, in order), one ``<main>``, one ``<h1>``;
- every ``<img>`` has an ``alt`` (empty only for decoration) — a picture says what it shows;
- no inline script or style: no ``<script>`` without ``src`` or with a body, no ``<style>``,
  no ``style=`` and no ``on…=`` attributes, no ``javascript:`` URLs (the CSP forbids them,
  so they would silently not work);
- every state badge (``class="state state-…"``) carries its word, not only a colour;
- ids are unique.
"""

from __future__ import annotations

from html.parser import HTMLParser

STATES = frozenset({"online", "degraded", "offline", "unknown"})
VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
     "track", "wbr"}
)  # fmt: skip


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.stack: list[str] = []
        self.ids: set[str] = set()
        self.counts = {"main": 0, "h1": 0}
        self.badges: list[list[str]] = []  # text collected inside each open state badge
        self.badge_depth: list[int] = []
        self.in_word = 0
        self.script_body = False
        self.states_seen: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)
        if tag in self.counts:
            self.counts[tag] += 1
        classes = (dict(attrs).get("class") or "").split()
        if tag == "span" and "state" in classes:
            self.badges.append([])
            self.badge_depth.append(len(self.stack))
            self.states_seen.extend(c[6:] for c in classes if c[6:] in STATES and c[:6] == "state-")
        if "state-word" in classes and self.badges:
            self.in_word = len(self.stack)
        if tag == "script":
            self.script_body = True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)  # <path …/> in inline SVG, <br/>

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else '-'}>")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        if self.in_word and len(self.stack) == self.in_word:
            self.in_word = 0
        if self.badge_depth and len(self.stack) == self.badge_depth[-1]:
            self.badge_depth.pop()
            words = "".join(self.badges.pop()).strip()
            if not words:
                self.problems.append("a state badge without its word")
        self.stack.pop()
        if tag == "script":
            self.script_body = False

    def handle_data(self, data: str) -> None:
        if self.script_body and data.strip():
            self.problems.append("inline script body")
        if self.in_word and self.badges:
            self.badges[-1].append(data)

    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        given = dict(attrs)
        for name, value in attrs:
            if name == "style":
                self.problems.append(f"<{tag} style=…>: inline style")
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>: inline event handler")
            if value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")
            if name == "id" and value:
                if value in self.ids:
                    self.problems.append(f"duplicate id {value!r}")
                self.ids.add(value)
        if tag == "img" and "alt" not in given:
            self.problems.append(f"<img src={given.get('src')!r}> without alt")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script" and not given.get("src"):
            self.problems.append("<script> without src")


def problems(html: str, *, full_page: bool = True) -> list[str]:
    """What is wrong with ``html`` (``full_page``: also one <main> and one <h1>)."""
    checker = _Checker()
    checker.feed(html)
    checker.close()
    found = list(checker.problems)
    if checker.stack:
        found.append(f"unclosed: {checker.stack}")
    if full_page:
        for tag, count in checker.counts.items():
            if count != 1:
                found.append(f"{count} <{tag}> elements, expected 1")
    return found


def states_shown(html: str) -> list[str]:
    """The state codes of the badges in ``html``, in order."""
    checker = _Checker()
    checker.feed(html)
    return checker.states_seen
