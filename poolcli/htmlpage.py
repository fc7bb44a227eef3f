"""What every page poolcli writes starts with: one self-contained HTML document head.

The ``generator`` meta tag names the page's kind, so poolcli can tell its own
earlier pages (which it may replace) from anyone else's files (which it must not).
"""

from __future__ import annotations

from html import escape


def page_head(*, generator: str, title: str, style: str) -> str:
    """The document up to and including ``<body>``: charset, generator, viewport, title, inline style."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        f'<meta name="generator" content="{escape(generator)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f"<style>{style}</style>\n"
        "</head>\n"
        "<body>"
    )
