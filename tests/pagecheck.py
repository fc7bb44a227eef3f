"""Checks on poolcli's HTML pages without a browser: well-formed, self-contained, and the data in them."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# elements whose end tag HTML lets a page leave out; poolcli's pages close them all the same
OPTIONAL_END = {"li", "p", "tr", "td", "th", "option"}


class Page(HTMLParser):
    """A parsed page: tags nest and close, every resource is inline."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: dict[str, str] = {}
        self._script_id: str | None = None
        self._script_text: list[str] = []
        self.doctype = text.lstrip().lower().startswith("<!doctype html>")
        self.feed(text)
        self.close()
        if self.stack:
            self.problems.append(f"never closed: {self.stack}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "script":
            self._script_id = dict(attrs).get("id") or f"script{len(self.scripts)}"
            self._script_text = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if tag == "script" and self._script_id is not None:
            self.scripts[self._script_id] = "".join(self._script_text)
            self._script_id = None

    def handle_data(self, data: str) -> None:
        if self._script_id is not None:
            self._script_text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def parse(text: str) -> Page:
    """Parse ``text``; assert it is a well-formed, self-contained HTML5 page."""
    page = Page(text)
    assert page.doctype, "no <!DOCTYPE html>"
    assert not page.problems, page.problems
    assert_self_contained(page, text)
    return page


def assert_self_contained(page: Page, text: str) -> None:
    """No resource comes from anywhere but the page itself: data: URIs, no links, no imports."""
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "poster", "action", "data"):
            value = attrs.get(name)
            if value is not None and name != "data":
                assert value.startswith(("data:", "#")), f"<{tag} {name}={value[:60]!r}> is not inline"
        assert tag not in ("link", "iframe", "object", "embed", "base"), f"<{tag}> may load something"
    assert not re.search(r"@import|url\(\s*['\"]?(?!data:)", text), "CSS loads something"
    assert not re.search(r"https?://", text), "the page names a web address"
    assert "fetch(" not in text and "XMLHttpRequest" not in text and "@font-face" not in text


def data(page: Page) -> dict:
    """The explanation an explain page carries (its JSON block)."""
    return json.loads(page.scripts["data"])
