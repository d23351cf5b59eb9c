"""A real browser reads the built book: images load, maths renders, links and Colab buttons work.

Headless Chromium (Debian's ``chromium`` + ``chromium-driver``, installed by ``.ci/run``) opens
every chapter of ``_build/html`` through a loopback HTTP server. A screenshot of each page is
saved under ``_build/screenshots/`` as a CI artifact. Where Chromium is absent the tests are
skipped with that reason; the book is built first if ``make book`` has not run.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="headless Chromium not installed (apt-get install chromium chromium-driver)",
)


def _pages() -> list[str]:
    """The book's pages, from the table of contents, as paths relative to the HTML root."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return [f + ".html" for f in files]


PAGES = _pages()


@pytest.fixture(scope="module")
def site() -> str:
    """Serve ``_build/html`` on a free loopback port (building the book first if needed)."""
    if not (HTML / "index.html").exists():
        subprocess.run(
            [sys.executable, "-m", "jupyter_book", "build", "-W", "-n", "--keep-going", str(ROOT)],
            check=True,
        )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *args, **kwargs: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _open(browser, url: str) -> None:
    browser.get(url)
    # MathJax typesets asynchronously: wait until it says it is done (or is absent).
    browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
            MathJax.startup.promise.then(() => done(true), () => done(false));
        } else { done(true); }
        """
    )


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(browser, site, page):
    url = urljoin(site, page)
    _open(browser, url)
    SHOTS.mkdir(parents=True, exist_ok=True)
    # The whole page, not only the first screen: the window grows to the document's height.
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(max(height, 800), 30000))
    browser.save_screenshot(str(SHOTS / (page.replace("/", "_").removesuffix(".html") + ".png")))
    browser.set_window_size(1280, 1600)

    assert "404" not in browser.title, f"{page}: not found"
    # Every image has loaded and has a size.
    broken = browser.execute_script(
        "return [...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
        ".map(i => i.src)"
    )
    assert broken == [], f"{page}: images that did not load: {broken}"

    # Maths: every math element was typeset by MathJax, and no raw TeX delimiters remain.
    n_math, n_typeset = browser.execute_script(
        "return [document.querySelectorAll('.math, span.math, div.math').length,"
        " document.querySelectorAll('mjx-container').length]"
    )
    if n_math:
        assert n_typeset >= n_math, f"{page}: {n_math} maths elements but {n_typeset} typeset"
    text = browser.execute_script("return document.querySelector('main').innerText")
    assert "\\(" not in text and "$$" not in text, f"{page}: raw TeX left in the page"


@pytest.mark.parametrize(
    "page", [p for p in PAGES if p.startswith("book/") and "references" not in p]
)
def test_colab_button_points_at_this_chapter(browser, site, page):
    _open(browser, urljoin(site, page))
    links = browser.execute_script(
        "return [...document.querySelectorAll('a')].map(a => a.href)"
        ".filter(h => h.includes('colab.research.google.com'))"
    )
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    repo = urlparse(url).path.strip("/")
    expected = f"https://colab.research.google.com/github/{repo}/blob/main/" + page.replace(
        ".html", ".ipynb"
    )
    assert expected in links, f"{page}: Colab links {links}, expected {expected}"


def test_internal_links_resolve(browser, site):
    """Every link inside the book points at a page (and anchor) that exists."""
    problems = []
    anchors_of: dict[str, set[str]] = {}
    for page in PAGES:
        _open(browser, urljoin(site, page))
        links = browser.execute_script(
            "return [...document.querySelectorAll('a[href]')].map(a => a.href)"
        )
        for link in links:
            parsed = urlparse(link)
            if not link.startswith(site):
                continue  # external links are not followed offline
            target = HTML / unquote(parsed.path.removeprefix(urlparse(site).path))
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{page} -> {link}: no such file")
                continue
            if parsed.fragment and target.suffix == ".html":
                key = str(target)
                if key not in anchors_of:
                    anchors_of[key] = set(_ids(target.read_text(encoding="utf-8")))
                if parsed.fragment not in anchors_of[key]:
                    problems.append(f"{page} -> {link}: no anchor #{parsed.fragment}")
    assert problems == []


def _ids(html: str) -> list[str]:
    import re

    return re.findall(r'\sid="([^"]+)"', html)
