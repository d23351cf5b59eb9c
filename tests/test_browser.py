"""A real browser reads the built book: images load, maths renders, links and Colab buttons work,
the console stays clean, and the pages work on a phone.

Headless Chromium (Debian's ``chromium`` + ``chromium-driver``, installed by ``.ci/run``) opens
every chapter of ``_build/html`` through a loopback HTTP server, on a desktop window and on a
phone's (390 CSS pixels, emulated). Every page is opened as on a first visit (empty local
storage), and any error in the browser's console fails the test. A screenshot of each page, at
both widths, is saved under ``_build/screenshots/`` as a CI artifact. Where Chromium is absent
the tests are skipped with that reason; the book is built first if ``make book`` has not run.
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
CHROMIUM = (  # Debian's, Ubuntu's, or the Chrome that GitHub's runners ship
    shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
)
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


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request in the test output
        pass


@pytest.fixture(scope="module")
def site() -> str:
    """Serve ``_build/html`` on a free loopback port (building the book first if needed)."""
    if not (HTML / "index.html").exists():
        subprocess.run(
            [sys.executable, "-m", "jupyter_book", "build", "-W", "-n", "--keep-going", str(ROOT)],
            check=True,
        )
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}


def _chrome():
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
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # read the console
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture(scope="module")
def browser():
    driver = _chrome()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def phone():
    """The same browser with a phone's screen: 390 CSS pixels wide, touch, mobile layout."""
    driver = _chrome()
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    yield driver
    driver.quit()


def _first_visit(browser, url: str) -> None:
    """Open ``url`` as a reader's first visit: nothing in local storage (the theme keeps the
    light/dark mode there), and the console log emptied first."""
    if browser.current_url.startswith("http"):
        browser.execute_script("window.localStorage.clear(); window.sessionStorage.clear();")
    browser.get_log("browser")
    _open(browser, url)


def _console_errors(browser) -> list[str]:
    """The console's errors since the last read: script errors, failed requests (a 404)..."""
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


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
    _first_visit(browser, url)
    errors = _console_errors(browser)
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
    errors += _console_errors(browser)
    assert errors == [], f"{page}: {len(errors)} console error(s): {errors}"


@pytest.mark.parametrize("page", PAGES)
def test_page_on_a_phone(phone, site, page):
    """At 390 px: no console error, nothing wider than the screen (code and tables scroll in
    their own box), and the navigation opens from the visible menu button."""
    _first_visit(phone, urljoin(site, page))
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = page.replace("/", "_").removesuffix(".html")
    _full_page_screenshot(phone, SHOTS / f"phone_{name}.png")
    errors = _console_errors(phone)
    assert errors == [], f"{page} (phone): {len(errors)} console error(s): {errors}"

    # On a phone, content wider than the screen widens the layout viewport: innerWidth grows.
    inner, scroll = phone.execute_script(
        "return [window.innerWidth, document.documentElement.scrollWidth]"
    )
    wide = phone.execute_script(
        """
        const w = arguments[0];
        return [...document.querySelectorAll('main *')]
          .filter(e => e.getBoundingClientRect().right > w + 1)
          .filter(e => !e.parentElement.closest('main *') ||
                       e.parentElement.getBoundingClientRect().right <= w + 1)
          .slice(0, 5).map(e => e.tagName + '.' + e.className + ': '
                                + e.textContent.slice(0, 60));
        """,
        PHONE["width"],
    )
    assert max(inner, scroll) <= PHONE["width"], (
        f"{page}: the page is {max(inner, scroll)} px wide on a {PHONE['width']} px phone: {wide}"
    )

    toggle = phone.execute_script(
        "return [...document.querySelectorAll('.primary-toggle')]"
        ".find(b => b.offsetParent !== null && b.getBoundingClientRect().width > 0)"
    )
    assert toggle is not None, f"{page}: no visible button opens the navigation on a phone"
    assert _navigation_links(phone)[1] == 0, f"{page}: the navigation covers the page"
    from selenium.webdriver.support.ui import WebDriverWait

    toggle.click()
    WebDriverWait(phone, 10).until(lambda d: _navigation_links(d)[1] > 0)
    shown, in_view = _navigation_links(phone)
    assert shown >= len(PAGES) - 1, f"{page}: the opened navigation shows {shown} links"
    phone.save_screenshot(str(SHOTS / f"phone_{name}_navigation.png"))


def _full_page_screenshot(browser, path: Path) -> None:
    """The whole page as the phone lays it out (not only the first screen)."""
    import base64

    size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 30000)}
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True, "clip": {**clip, "scale": 1}},
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def _navigation_links(browser) -> tuple[int, int]:
    """Links of the book's navigation that are displayed, and those of them on the screen (on a
    phone the theme moves the navigation into a dialog when the menu button is tapped)."""
    return tuple(
        browser.execute_script(
            """
            const links = [...document.querySelectorAll('.bd-sidebar-primary a.reference')]
              .map(a => a.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0);
            const seen = links.filter(r => r.right > 0 && r.left < window.innerWidth
                                        && r.bottom > 0 && r.top < window.innerHeight);
            return [links.length, seen.length];
            """
        )
    )


@pytest.mark.parametrize(  # pages made from notebooks (not references.md or checked.md)
    "page", [p for p in PAGES if (ROOT / p.replace(".html", ".ipynb")).exists()]
)
def test_colab_button_points_at_this_chapter(browser, site, page):
    _first_visit(browser, urljoin(site, page))
    links = browser.execute_script(
        "return [...document.querySelectorAll('a')].map(a => a.href)"
        ".filter(h => h.includes('colab.research.google.com'))"
    )
    # The chapter's Colab twin (colab/X.ipynb, plain Markdown), not its MyST source book/X.ipynb.
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = urlparse(config["repository"]["url"]).path.strip("/")
    branch = config["repository"]["branch"]
    twin = "colab/" + page.removeprefix("book/").replace(".html", ".ipynb")
    assert (ROOT / twin).exists(), f"{page}: no Colab twin {twin}; run tools/colab.py build"
    expected = f"https://colab.research.google.com/github/{repo}/blob/{branch}/{twin}"
    assert expected in links, f"{page}: Colab links {links}, expected {expected}"
    assert not [h for h in links if "/blob/" in h and "/book/" in h], f"{page}: {links}"


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
