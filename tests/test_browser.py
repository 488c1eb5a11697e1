"""The SolaraViz page in a real browser: Debian's chromium driven by Playwright.

One server (what `qusayr viz` runs, on a free loopback port) and one browser page for the module.
Without a browser the module is skipped, saying how to install one; under CI (``CI=true``) a
missing browser is a failure. The page must work offline: every request it makes is recorded, one
to anywhere but its server is aborted and fails the test, and so does one for a browser asset
(``/_solara/cdn/...``) that is not installed, which Solara would otherwise fetch from a CDN. A
screenshot is left in ``results/test-artifacts/`` (or ``$QUSAYR_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from sim.viz import listen, page_server
from tests.conftest import REPO_ROOT

CHROMIUM = os.environ.get("QUSAYR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
INSTALL_HINT = "install Debian's chromium (as root: apt-get install -y chromium) or set $QUSAYR_CHROMIUM"
ARTIFACTS = Path(os.environ.get("QUSAYR_TEST_ARTIFACTS") or REPO_ROOT / "results" / "test-artifacts")
TIMEOUT_MS = 30_000


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"browser test cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"browser test skipped: {reason}")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A chromium page on a fresh server, with every problem it meets listed in ``page.problems``.

    The server is what `qusayr viz` runs (``sim.viz.page_server``), started directly to save the
    CLI's own start-up; the browser starts while the server does. ``page.requested`` lists the URL
    of every request the page made.
    """
    if not Path(CHROMIUM).is_file():
        _unavailable(f"no chromium at {CHROMIUM}: {INSTALL_HINT}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (the 'viz' extra: pip install -e '.[viz]')")
    log = tmp_path_factory.mktemp("viz") / "server.log"
    with log.open("wb") as out, listen(0) as listener:
        port = listener.getsockname()[1]
        server = page_server("al-qusayr-2013", listener, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
    origin = f"http://127.0.0.1:{port}/"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            problems: list[str] = []
            requested: list[str] = []

            def offline_only(route) -> None:
                if route.request.url.startswith(origin):
                    route.continue_()
                else:
                    route.abort()  # the page must work without it; counted by ``off_the_machine``

            page.route("**/*", offline_only)
            page.on("request", lambda request: requested.append(request.url))
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", lambda m: problems.append(f"console error: {m.text}") if m.type == "error" else None)
            page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
            page.set_default_timeout(TIMEOUT_MS)
            page.problems, page.requested, page.origin = problems, requested, origin
            _wait_for_server(origin, server, log)
            page.goto(origin)
            yield page
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_for_server(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the page's server did not start; its log:\n{log.read_text()[-3000:]}", pytrace=False)
        time.sleep(0.2)


def off_the_machine(requested: list[str], origin: str) -> list[str]:
    """The requests that left the page's server, or made it fetch from a CDN: every such URL.

    A URL not under ``origin`` (nor its websocket twin) goes elsewhere; one under
    ``/_solara/cdn/`` that names no installed asset is one Solara's proxy would fetch.
    """
    from solara.server.settings import assets  # where solara-assets put the browser assets

    websocket = "ws" + origin.removeprefix("http")
    found = []
    for url in requested:
        path = url.removeprefix(origin).removeprefix(websocket)
        if path == url:
            found.append(f"request off the machine: {url}")
        elif path.startswith("_solara/cdn/"):
            asset = path.removeprefix("_solara/cdn/").split("?")[0]
            if not (assets.proxy_cache_dir / asset).is_file():
                found.append(f"asset not installed, fetched from a CDN: {url}")
    return found


def _picture(page, selector: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("RGB")).astype(int)


def _clock(page) -> str:
    return page.locator(".qusayr-clock").inner_text()


def _uncheck(page, label: str) -> None:
    """Click the checkbox labelled ``label`` until it shows unchecked.

    The last step of a paused play can re-render the panel as the click lands (on a loaded machine a
    click was lost so, once in about ten full runs): a user would click again, and so does the test.
    """
    box = page.get_by_role("checkbox", name=label)
    for _ in range(3):
        page.get_by_text(label).click()
        try:
            expect(box).not_to_be_checked(timeout=5_000)
            return
        except AssertionError:
            continue
    expect(box).not_to_be_checked(timeout=1)


def _wait_clock_change(page, before: str) -> float:
    started = time.perf_counter()
    page.wait_for_function(
        "before => (document.querySelector('.qusayr-clock')?.innerText ?? before) !== before",
        arg=before,
        timeout=TIMEOUT_MS,
    )
    return time.perf_counter() - started


def test_the_page_runs_the_battle_in_a_browser(page):
    page.locator(".qusayr-clock").wait_for()
    for selector in (".qusayr-town", ".qusayr-places", ".qusayr-charts"):  # rendered, not blank
        picture = _picture(page, selector)
        assert min(picture.shape[:2]) > 100, selector
        assert picture.std() > 10, f"{selector} is blank"
    start = _clock(page)
    assert "19 May 2013, 00:00 (day 0, step 0 of" in start
    assert page.title().startswith("al-Qusayr 2013")  # the tab's title, not "App"
    values = page.locator(".v-slider__thumb-label")  # every slider shows its value without being dragged
    assert values.count() >= 7
    assert all(values.nth(i).is_visible() for i in range(values.count()))
    assert values.nth(values.count() - 1).inner_text() == "1"  # the seed
    chart_before, map_before = _picture(page, ".qusayr-charts"), _picture(page, ".qusayr-town")

    step_seconds = []
    clock = start
    for _ in range(3):
        page.get_by_role("button", name="Step").click()
        step_seconds.append(_wait_clock_change(page, clock))
        clock = _clock(page)
    assert "19 May 2013, 00:45 (day 0, step 3 of" in clock
    page.wait_for_timeout(300)  # the pictures follow the clock in the same update
    chart_after = _picture(page, ".qusayr-charts")
    assert chart_after.shape == chart_before.shape
    assert (chart_after != chart_before).any(axis=2).sum() > 20, "the charts did not advance"
    assert (_picture(page, ".qusayr-town") != map_before).any(), "the map did not change"

    page.get_by_role("button", name="▶").click()  # play for a moment, then pause
    page.wait_for_function(
        "() => / step ([6-9]|[1-9][0-9]+) of/.test(document.querySelector('.qusayr-clock')?.innerText ?? '')"
    )
    page.get_by_role("button", name="❚❚").click()
    page.get_by_role("button", name="Step").wait_for()
    played = _clock(page)
    assert played != clock

    _uncheck(page, "Hezbollah takes part")  # a parameter, then Reset
    page.get_by_role("button", name="Reset").click()
    # Reset re-renders the panel: the element can be missing for a moment, so the wait allows for it
    page.wait_for_function(
        "() => document.querySelector('.qusayr-forces')?.innerText.includes('Hezbollah none') === true"
    )
    assert "step 0 of" in _clock(page)
    assert "forces.hezbollah.take_part=false" in page.locator(".qusayr-forces").inner_text()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "viz-page.png", full_page=True)
    timing = {"step_to_clock_s": [round(s, 3) for s in step_seconds], "played_to": played}
    (ARTIFACTS / "viz-timing.json").write_text(json.dumps(timing) + "\n")
    print(f"browser: Step to new clock {timing['step_to_clock_s']} s; screenshot {ARTIFACTS / 'viz-page.png'}")
    assert page.problems == [], "\n".join(page.problems)
    assert any("/_solara/cdn/" in url for url in page.requested)  # the page's front end: installed assets
    assert off_the_machine(page.requested, page.origin) == []


def test_requests_off_the_machine_are_found():
    origin = "http://127.0.0.1:8765/"
    local = [origin, origin + "_solara/cdn/requirejs@2.3.6/require.js", "ws://127.0.0.1:8765/jupyter/api/kernels/k"]
    assert off_the_machine(local, origin) == []
    for url in (
        "https://cdn.jsdelivr.net/npm/requirejs@2.3.6/require.js",
        "http://127.0.0.1:8766/",
        origin + "_solara/cdn/left-pad@1.3.0/index.js",
        origin + "_solara/cdn/requirejs@2.3.6",
    ):
        assert len(off_the_machine([*local, url], origin)) == 1, url
