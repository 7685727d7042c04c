"""The pages router on its own: every page and every asset it names is in the package (no CDN: nothing loaded
from another host), and nothing outside ``static/pages`` is served."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from ml314.web.pages import PAGES, pages_router
from ml314.web.server import WebServer


@pytest.fixture(scope="module")
def c() -> Iterator[httpx.Client]:
    """The pages router alone on a real server on a free loopback port."""
    app = FastAPI()
    app.include_router(pages_router())
    server = WebServer("127.0.0.1", 0)
    server.start(app)
    try:
        with httpx.Client(base_url=server.url) as client:
            yield client
    finally:
        server.stop()


def test_every_page_and_its_assets_come_from_the_package(c: httpx.Client) -> None:
    for path in PAGES:
        r = c.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
        assert "://" not in r.text, f"{path} loads something from another host"
        for asset in re.findall(r'(?:src|href)="(/pages/[^"]+)"', r.text):
            a = c.get(asset)
            assert a.status_code == 200 and a.content, asset
    vendored = c.get("/pages/vendor/uPlot.iife.min.js")
    assert vendored.status_code == 200 and "uPlot" in vendored.text
    assert "MIT" in c.get("/pages/vendor/uPlot.LICENSE.txt").text


def test_nothing_outside_the_pages_is_served(c: httpx.Client) -> None:
    for path in ("/pages/../pages.py", "/pages/..%2Fpages.py", "/pages/vendor/../../lcd.js", "/pages/nope.js",
                 "/pages/vendor/README", "/pages/a/b/c.js", "/pages/.hidden.js"):  # fmt: skip
        r = c.get(path)
        assert r.status_code == 404 and "pages_router" not in r.text, path
