"""The console in headless Chromium (Debian's, driven by Playwright) against a real `modelport server`.

Screenshots of every page go to a temporary folder (``CONSOLE_SCREENSHOTS`` names another: the README's
images under docs/images/ are made that way).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from modelport.client import Client
from tests import infra
from tests.ui.conftest import run_tuning, seed_all

pytestmark = pytest.mark.slow


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: `make install` installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


@dataclass
class Site:
    url: str
    tokens: dict[str, str]
    shots: Path
    browser: Any
    server_log: Any
    errors: list[str] = field(default_factory=list)

    def page(self, scope: str | None = "admin", **context: Any) -> Any:
        """A fresh browser context (its own cookies), logged in with the ``scope`` token unless None."""
        ctx = self.browser.new_context(viewport=context.pop("viewport", {"width": 1280, "height": 900}), **context)
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda m: self.errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        if scope is not None:
            page.goto(f"{self.url}/ui")
            page.get_by_label("Token").fill(self.tokens[scope])
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url("**/ui/models")
        return page

    def shot(self, page: Any, name: str) -> None:
        page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, churn_model: tuple[Path, Path]) -> Iterator[Site]:
    executable = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("playwright is not installed (the dev extra: pip install -e '.[dev]')")

    home = tmp_path_factory.mktemp("console-home")
    tokens = seed_all(home, churn_model)
    run_tuning(home, home.parent / "tuning-work", "search", ["score:max", "cost:min"], trials=16)
    shots = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    with infra.live_server({"MODELPORT_HOME": str(home)}) as live, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield Site(live.url, tokens, shots, browser, live.log)
        finally:
            browser.close()


def until(predicate: Any, what: str, timeout: float = 20) -> None:
    """Poll the page from Python (the console's CSP forbids the eval behind Playwright's wait_for_function)."""
    infra.wait_for(predicate, timeout, what, interval=0.2)


def invoke(site: Site, row: dict[str, Any], n: int = 1) -> httpx.Response:
    body = orjson.dumps({"dataframe_records": [row]})
    headers = {"Authorization": f"Bearer {site.tokens['admin']}", "Content-Type": "application/json"}
    with httpx.Client(base_url=site.url, headers=headers, timeout=10) as http:
        for _ in range(n):
            answer = http.post("/endpoints/churn-api/invocations", content=body)
    return answer


def test_log_in_and_see_a_model_and_its_baseline_histograms(site: Site) -> None:
    page = site.page(scope=None)
    page.goto(f"{site.url}/ui/models")
    assert "/ui/login" in page.url
    page.get_by_label("Token").fill("mp_wrong_token")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text().startswith("that token is not valid")
    page.get_by_label("Token").fill(site.tokens["read"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/ui/models")
    site.shot(page, "models")
    page.get_by_role("link", name="churn", exact=True).click()
    page.get_by_role("link", name="v1", exact=True).click()
    for feature in ("age", "income", "plan"):
        figure = page.locator(f"#feature-{feature}")
        assert figure.locator("svg rect").count() >= 3
        assert figure.is_visible()
    site.shot(page, "version")
    page.goto(f"{site.url}/ui/models/churn/compare?a=1&b=2&diff=1")
    assert page.locator("tr.differs").count() >= 2
    site.shot(page, "compare")
    page.context.close()


def count(text: str) -> int:
    """A count as the live table shows it: "—" before a variant has counted anything, thousands with commas."""
    text = text.strip()
    return 0 if text in ("", "—") else int(text.replace(",", ""))


def test_change_weights_and_see_the_live_numbers_move(site: Site) -> None:
    page = site.page("admin")
    page.goto(f"{site.url}/ui/endpoints/churn-api")
    requests = page.locator('tr[data-variant="b"] [data-key="requests"]')
    rate = page.locator('tr[data-variant="b"] [data-key="rate"]')
    until(lambda: page.locator("#live").get_attribute("data-updated") is not None, "the first live figures")
    before = count(requests.inner_text())
    page.get_by_label("a", exact=True).fill("10")
    page.get_by_label("b", exact=True).fill("90")
    page.get_by_role("button", name="Apply weights").click()
    assert "weights set to a=10, b=90" in page.get_by_role("status").inner_text()
    assert page.locator('tr[data-variant="b"] [data-key="weight"]').inner_text() == "90"
    # traffic while the page is open: its counters and rates move without a reload
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            invoke(site, {"age": 50, "income": 60.0, "plan": "pro"}, n=5)

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        until(lambda: count(requests.inner_text()) > before + 5, "the request count to move")
        until(lambda: rate.inner_text() not in ("—", "0.00"), "a request rate")
        readings = int(page.locator("#live").get_attribute("data-readings") or 0)
        until(lambda: int(page.locator("#live").get_attribute("data-readings") or 0) >= readings + 3, "a few rates charted")
    finally:
        stop.set()
        sender.join()
    assert page.locator('tr[data-variant="b"] [data-key="p50_ms"]').inner_text() != "—"
    site.shot(page, "endpoint")
    page.context.close()


def test_try_it_gives_the_prediction_the_sdk_gives_for_the_same_row(site: Site) -> None:
    page = site.page("admin")
    page.goto(f"{site.url}/ui/endpoints/churn-api/try")
    row = {"age": int(page.get_by_label("age").input_value()), "income": float(page.get_by_label("income").input_value()),
           "plan": page.get_by_label("plan").input_value()}
    page.get_by_role("button", name="Predict").click()
    until(lambda: page.locator("#try").get_attribute("data-state") == "done", "the prediction")
    with Client(url=site.url, token=site.tokens["admin"]) as client:
        expected = client.endpoints.invoke("churn-api", orjson.dumps({"dataframe_records": [row]}), content_type="application/json")
    assert page.locator("#prediction").inner_text() == str(expected.predictions[0]["label"])
    assert page.locator("#variant").inner_text() in ("a", "b")
    assert page.locator("#probs .bar").count() == 2
    assert "POST /endpoints/churn-api/invocations" in page.locator("#raw-request").inner_text()
    assert page.locator("#raw-response").inner_text().startswith("HTTP/1.1 200")
    site.shot(page, "try")
    # a value of the wrong type: the field is marked with the endpoint's own message
    page.get_by_label("age").fill("old")
    page.get_by_role("button", name="Predict").click()
    until(lambda: page.locator("#try").get_attribute("data-state") == "error", "the endpoint's error")
    assert page.get_by_label("age").get_attribute("aria-invalid") == "true"
    assert "column 'age'" in page.locator(".field .problem").first.inner_text()
    page.context.close()


def test_a_read_token_cannot_change_weights(site: Site) -> None:
    page = site.page("read")
    page.goto(f"{site.url}/ui/endpoints/churn-api")
    assert page.get_by_role("button", name="Apply weights").count() == 0
    assert "may look only" in page.content()
    csrf = page.locator('meta[name="csrf"]').get_attribute("content")
    answer = page.request.post(f"{site.url}/ui/endpoints/churn-api/weights", form={"csrf": csrf, "weight.a": "99", "weight.b": "1"})
    assert answer.status == 403
    with Client(url=site.url, token=site.tokens["read"]) as client:
        assert {v.name: v.weight for v in client.endpoints.get("churn-api").config.live}["a"] != 99
    page.context.close()
    log = site.server_log()
    assert "POST /ui/login" in log  # the access log is on, and tokens are never in it
    assert not any(secret in log for secret in site.tokens.values())


def test_no_console_errors_on_any_page(site: Site) -> None:
    pages = {
        "models": "/ui/models",
        "model": "/ui/models/churn",
        "endpoints": "/ui/endpoints",
        "monitoring": "/ui/monitoring",
        "monitor": "/ui/monitoring/churn-drift",
        "experiments": "/ui/experiments",
        "experiment": "/ui/experiments/churn-ab",
        "jobs": "/ui/jobs",
        "tuning": "/ui/tuning",
    }
    page = site.page("admin")
    for name, path in pages.items():
        page.goto(f"{site.url}{path}")
        assert page.locator("h1").count() == 1, path
        site.shot(page, name)
    # a tuning job: its history drawn by uPlot, the SVG charts, importances once computed off the request
    page.goto(f"{site.url}/ui/tuning/search")
    assert page.locator("#history canvas").count() >= 1
    assert page.locator("#parallel svg polyline").count() >= 1
    assert page.locator("#pareto svg circle").count() == 16

    def importance_shown() -> bool:
        if page.locator("#importance svg").count():
            return True
        page.reload()
        return False

    until(importance_shown, "the parameter importances")
    site.shot(page, "tuning-job")
    page.goto(f"{site.url}/ui/models/churn/versions/99")
    assert page.get_by_role("link", name="Back to the console").is_visible()
    page.context.close()
    phone = site.page("read", viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.goto(f"{site.url}/ui/endpoints/churn-api")
    width = phone.locator("html").evaluate("e => [e.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1] + 1  # no sideways scrolling
    site.shot(phone, "phone-endpoint")
    phone.goto(f"{site.url}/ui/tuning/search")
    width = phone.locator("html").evaluate("e => [e.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1] + 1
    site.shot(phone, "phone-tuning-job")
    phone.context.close()
    # what a browser logs by design: the 404 page's status, and the wrong-type "Try it" call's 424
    deliberate = ("/ui/models/churn/versions/99: Failed to load resource", "/try: Failed to load resource: the server responded with a status of 424")
    errors = [e for e in site.errors if not any(d in e for d in deliberate)]
    assert errors == []


def test_the_example_webapp_calls_the_endpoint(site: Site) -> None:
    """examples/webapp: its own process and port, a form for its users, the endpoint called over HTTP."""
    import subprocess
    import sys

    port = infra.free_port()
    env = {**os.environ, "MODELPORT_URL": site.url, "MODELPORT_TOKEN": site.tokens["admin"]}
    app = infra.REPO / "examples" / "webapp" / "app.py"
    command = [sys.executable, str(app), "--endpoint", "churn-api", "--columns", "age,income,plan", "--port", str(port)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        until(lambda: infra._http_ok(f"http://127.0.0.1:{port}/"), "the web application")
        page = site.page(scope=None)
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_label("age").fill("61")
        page.get_by_label("income").fill("72.5")
        page.get_by_label("plan").fill("team")
        page.get_by_role("button", name="Predict").click()
        shown = page.locator("#prediction").inner_text()
        with Client(url=site.url, token=site.tokens["admin"]) as client:
            body = orjson.dumps({"dataframe_records": [{"age": 61, "income": 72.5, "plan": "team"}]})
            expected = client.endpoints.invoke("churn-api", body, content_type="application/json")
        assert shown == str(expected.predictions[0]["label"])
        page.get_by_label("age").fill("old")
        page.get_by_role("button", name="Predict").click()
        assert "column 'age'" in page.get_by_role("alert").inner_text()
        site.shot(page, "webapp")
        page.context.close()
    finally:
        proc.terminate()
        proc.wait(10)
