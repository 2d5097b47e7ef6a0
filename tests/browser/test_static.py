"""Checks of the client's source that need no browser: user text is never parsed as HTML,
and every module the page loads exists (there is no build step to catch a typo)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .harness import REPO

WEB = REPO / "web"
SCRIPTS = sorted(WEB.rglob("*.js"))

# Ways to turn a string into markup. The client builds every element with
# document.createElement and sets text with textContent or text nodes.
HTML_SINKS = re.compile(
    r"\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|createContextualFragment"
    r"|DOMParser|\beval\(|new Function\("
)
IMPORT = re.compile(r"""^\s*import\s[^'"]*['"](?P<path>[^'"]+)['"]""", re.MULTILINE)


def test_the_client_has_scripts() -> None:
    assert WEB / "app.js" in SCRIPTS
    assert len(SCRIPTS) >= 5


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(WEB)))
def test_no_html_parsing_of_strings(script: Path) -> None:
    found = [
        f"{script.name}:{n}: {line.strip()}"
        for n, line in enumerate(script.read_text().splitlines(), 1)
        if HTML_SINKS.search(line)
    ]
    assert not found, found


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(WEB)))
def test_relative_imports_resolve(script: Path) -> None:
    for match in IMPORT.finditer(script.read_text()):
        target = (script.parent / match["path"]).resolve()
        assert target.is_file(), f"{script.name} imports missing {match['path']}"


def test_index_loads_the_app_from_static() -> None:
    html = (WEB / "index.html").read_text()
    assert 'src="/static/app.js"' in html and 'type="module"' in html
    assert 'href="/static/style.css"' in html
