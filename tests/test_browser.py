"""A real browser reads the built book: images load, maths renders, links and Colab buttons work,
chapters are numbered, the console stays clean, and the pages work on a phone.

Headless Chromium (Debian's ``chromium`` + ``chromium-driver``, installed by ``.ci/run``) opens
every page of ``_build/html`` through a loopback HTTP server, on a desktop window and on a
phone's (390 CSS pixels, emulated). Every page is opened as on a first visit (empty local
storage), and any error in the browser's console fails the test. A screenshot of each page, at
both widths, is saved under ``_build/screenshots/`` as a CI artifact. Where Chromium is absent
the browser's tests are skipped with that reason; the checks that read the built HTML files
(numbering, cross-references) run anyway. The book is built first if ``make book`` has not run.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest
import yaml

from tools.common import ROOT, reading_order

SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = (  # Debian's, Ubuntu's, or the Chrome that GitHub's runners ship
    shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
)
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.slow  # the whole book is read, twice


def _pages() -> list[str]:
    """The book's pages, from the table of contents, as paths relative to the HTML root."""
    return [str(p.path.relative_to(ROOT).with_suffix(".html")) for p in reading_order()]


PAGES = _pages()
#: Pages the second edition adds; each must be in the book (and so in every check below).
NEW_PAGES = ["book/glossary.html", "book/notation.html", "book/06_build_resnet.html"]
#: Numbered chapters: page -> its number (_toc.yml, numbered across parts).
NUMBERED = {
    str(p.path.relative_to(ROOT).with_suffix(".html")): p.number
    for p in reading_order()
    if p.number.isdigit()
}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request in the test output
        pass


@pytest.fixture(scope="module")
def site(built_book) -> str:
    """Serve ``_build/html`` on a free loopback port (building the book first if needed)."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}


def _chrome():
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("headless Chromium not installed (apt-get install chromium chromium-driver)")
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
    assert (ROOT / twin).exists(), f"{page}: no Colab twin {twin}; run python -m tools.colab build"
    expected = f"https://colab.research.google.com/github/{repo}/blob/{branch}/{twin}"
    assert expected in links, f"{page}: Colab links {links}, expected {expected}"
    assert not [h for h in links if "/blob/" in h and "/book/" in h], f"{page}: {links}"


def test_internal_links_resolve(browser, site, built_book):
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
            target = built_book / unquote(parsed.path.removeprefix(urlparse(site).path))
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
    return re.findall(r'\sid="([^"]+)"', html)


# --- numbering: chapters, figures, cross-references (the built HTML, and the sidebar) ---------


@pytest.mark.parametrize("page", NEW_PAGES)
def test_the_second_editions_new_pages_are_in_the_book(page):
    assert page in PAGES, f"{page} is not in _toc.yml"


def _heading(html: str) -> str:
    """The text of a page's title, tags removed (Sphinx puts "3. " in a span before it). The
    title in the page, not the print header's copy: the one with a permalink."""
    h1 = re.search(r"<h1>((?:(?!</h1>).)*?)<a class=\"headerlink\"", html, re.S)
    return re.sub(r"<[^>]+>", "", h1.group(1)).strip() if h1 else ""


def test_chapter_titles_carry_their_numbers(built_book):
    assert NUMBERED, "no numbered chapter in _toc.yml"
    for page, number in NUMBERED.items():
        title = _heading((built_book / page).read_text(encoding="utf-8"))
        assert title.startswith(f"{number}. "), f"{page}: title {title!r}, not Chapter {number}"


def test_the_sidebar_numbers_the_chapters(browser, site):
    _first_visit(browser, urljoin(site, PAGES[0]))
    links = browser.execute_script(
        "return [...document.querySelectorAll('.bd-sidebar-primary a.reference')]"
        ".map(a => [a.href, a.innerText.trim()])"
    )
    shown = {urlparse(href).path.removeprefix(urlparse(site).path): text for href, text in links}
    for page, number in NUMBERED.items():
        assert page in shown, f"{page} is not in the sidebar"
        assert shown[page].startswith(f"{number}. "), f"sidebar: {shown[page]!r} for {page}"


_NUMREF = re.compile(
    r'<a class="reference internal" href="([^"#]*)(?:#[^"]*)?"><span class="std std-numref">'
    r"(Chapter|Figure) ([\d.]+)</span></a>"
)


def test_chapter_and_figure_references_resolve_to_what_they_name(built_book):
    """ "Chapter 7" links to the page whose title is numbered 7; "Figure 3.2" is a figure of
    Chapter 3's page (figures are numbered per chapter)."""
    found = 0
    for page in PAGES:
        html = (built_book / page).read_text(encoding="utf-8")
        for href, kind, number in _NUMREF.findall(html):
            target = (built_book / page).parent / href if href else built_book / page
            title = _heading(target.read_text(encoding="utf-8"))
            chapter = number.split(".")[0]
            if kind == "Chapter" or "." in number:
                assert title.startswith(f"{chapter}. "), f"{page}: {kind} {number} -> {title!r}"
            found += 1
    assert found > 0, "no chapter or figure reference in the book"


def test_figures_are_numbered_per_chapter(built_book):
    for page, number in NUMBERED.items():
        html = (built_book / page).read_text(encoding="utf-8")
        for caption in re.findall(r'class="caption-number">([^<]*)<', html):
            assert re.match(rf"Figure {number}\.\d+ ", caption), f"{page}: {caption!r}"
