"""The console in process: login and its cookie, CSRF and scopes on actions, pages a user reads, the 404 page,
"Try it" calling the endpoint with the console's session. (tests/ui/test_browser.py drives a real browser.)"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from modelport.client import Client
from modelport.ui.charts import MAX_POINTS, downsample
from modelport.ui.endpoint_pages import try_fields
from tests.ui.conftest import InProcess, deploy


@pytest.fixture
def console(
    in_process: Callable[..., InProcess], tmp_path: Path, churn_model: tuple[Path, Path]
) -> InProcess:
    deploy(tmp_path / "home0", churn_model)  # the home in_process opens first
    return in_process(tokens=("admin", "read", "invoke"))


def cookie_header(cookies: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


def set_cookies(response: httpx.Response) -> dict[str, str]:
    out = {}
    for raw in response.headers.get_list("set-cookie"):
        name, _, rest = raw.partition("=")
        out[name] = rest.split(";", 1)[0]
    return out


def login(api: InProcess, scope: str) -> dict[str, str]:
    """The cookies a browser holds after logging in with the ``scope`` token."""
    form = api.get("/ui/login")
    cookies = set_cookies(form)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    answer = api.post(
        "/ui/login",
        content=f"csrf={csrf}&next=/ui/models&token={api.tokens[scope]}",
        headers={"Content-Type": "application/x-www-form-urlencoded", **cookie_header(cookies)},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/ui/models"
    return {**cookies, **set_cookies(answer)}


def csrf_of(page: httpx.Response) -> str:
    return re.search(r'<meta name="csrf" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def test_pages_send_a_visitor_without_a_token_to_the_login_and_back(console: InProcess) -> None:
    answer = console.get("/ui/endpoints/churn-api")
    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    assert target.path == "/ui/login"
    assert parse_qs(target.query)["next"] == ["/ui/endpoints/churn-api"]


def test_login_keeps_the_token_in_an_httponly_strict_cookie_and_never_in_the_page(console: InProcess) -> None:
    form = console.get("/ui/login", headers={"Host": "127.0.0.1:8080"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    answer = console.post(
        "/ui/login",
        content=f"csrf={csrf}&next=/ui/models&token={console.tokens['read']}",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Host": "127.0.0.1:8080", **cookie_header(set_cookies(form))},
    )
    session = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("modelport_console="))
    attributes = {a.strip().lower() for a in session.split(";")[1:]}
    assert {"httponly", "samesite=strict", "secure", "path=/"} <= attributes
    page = console.get("/ui/models/churn/versions/1", headers=cookie_header(login(console, "read")))
    assert page.status_code == 200
    assert console.tokens["read"] not in page.text
    assert "read" in page.text and "Log out" in page.text


@pytest.mark.parametrize(
    ("token", "message"),
    [("not-a-token", "that token is not valid"), ("", "enter a token"), ("invoke", "that token may not read")],
)
def test_a_wrong_token_goes_back_to_the_login_with_a_message(console: InProcess, token: str, message: str) -> None:
    token = console.tokens.get(token, token)
    form = console.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    answer = console.post(
        "/ui/login",
        content=f"csrf={csrf}&next=/ui/endpoints&token={token}",
        headers={"Content-Type": "application/x-www-form-urlencoded", **cookie_header(set_cookies(form))},
    )
    assert answer.status_code == 303
    again = console.get(answer.headers["location"])
    assert "modelport_console" not in answer.headers.get("set-cookie", "")
    assert message in again.text
    assert 'name="next" value="/ui/endpoints"' in again.text


def test_a_revoked_token_is_sent_back_to_the_login(console: InProcess, tmp_path: Path) -> None:
    cookies = login(console, "read")
    assert console.get("/ui/models", headers=cookie_header(cookies)).status_code == 200
    services = console.app.state.services
    token = next(t for t in services.tokens.list() if t.name == "read-token")
    services.tokens.revoke(token.id)
    services.tokens._verified.clear()  # the verification cache (a few seconds in a real server)
    answer = console.get("/ui/models", headers=cookie_header(cookies))
    assert answer.status_code == 303
    assert "log in again" in parse_qs(urlsplit(answer.headers["location"]).query)["error"][0]


def test_an_admin_changes_weights_with_the_csrf_echo_and_a_read_token_cannot(console: InProcess, tmp_path: Path) -> None:
    def weights() -> dict[str, float]:
        return {v.name: v.weight for v in console.app.state.services.endpoints.get("churn-api").config.live}

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    admin = login(console, "admin")
    page = console.get("/ui/endpoints/churn-api", headers=cookie_header(admin))
    assert 'action="/ui/endpoints/churn-api/weights"' in page.text
    # without the page's CSRF value: refused
    stale = console.post("/ui/endpoints/churn-api/weights", content="weight.a=50&weight.b=50", headers={**form, **cookie_header(admin)})
    assert stale.status_code == 403 and "CSRF" in stale.text
    assert weights() == {"a": 80, "b": 20}
    done = console.post(
        "/ui/endpoints/churn-api/weights",
        content=f"csrf={csrf_of(page)}&weight.a=50&weight.b=50",
        headers={**form, **cookie_header(admin)},
    )
    assert done.status_code == 303
    assert weights() == {"a": 50, "b": 50}
    assert "revision 2" in console.get(done.headers["location"], headers=cookie_header(admin)).text
    # the same form sent again from the tab that still shows revision 1: refused, the newer weights stay
    seen = re.search(r'name="seen" value="(\d+)"', page.text)
    assert seen is not None and seen.group(1) == "1"
    again = console.post(
        "/ui/endpoints/churn-api/weights",
        content=f"csrf={csrf_of(page)}&seen=1&weight.a=90&weight.b=10",
        headers={**form, **cookie_header(admin)},
    )
    assert again.status_code == 303 and weights() == {"a": 50, "b": 50}
    assert "changed meanwhile" in parse_qs(urlsplit(again.headers["location"]).query)["error"][0]

    reader = login(console, "read")
    page = console.get("/ui/endpoints/churn-api", headers=cookie_header(reader))
    assert 'action="/ui/endpoints/churn-api/weights"' not in page.text
    refused = console.post(
        "/ui/endpoints/churn-api/weights",
        content=f"csrf={csrf_of(page)}&weight.a=1&weight.b=99",
        headers={**form, **cookie_header(reader)},
    )
    assert refused.status_code == 403 and "admin token" in refused.text
    assert weights() == {"a": 50, "b": 50}


def test_an_admin_rolls_back_from_the_history(console: InProcess) -> None:
    admin = login(console, "admin")
    services = console.app.state.services
    services.endpoints.update("churn-api", weights={"a": 10, "b": 90}, created_by="test")
    page = console.get("/ui/endpoints/churn-api", headers=cookie_header(admin))
    assert "revision 2" in page.text and "Roll back to 1" in page.text
    answer = console.post(
        "/ui/endpoints/churn-api/rollback",
        content=f"csrf={csrf_of(page)}&revision=1",
        headers={"Content-Type": "application/x-www-form-urlencoded", **cookie_header(admin)},
    )
    assert answer.status_code == 303
    assert {v.name: v.weight for v in services.endpoints.get("churn-api").config.live} == {"a": 80, "b": 20}
    revision = services.endpoints.get("churn-api").revision
    for typo in ("x1", "²", "9" * 30):  # a mistyped revision is refused, never read as "the previous one"
        refused = console.post(
            "/ui/endpoints/churn-api/rollback",
            content=f"csrf={csrf_of(page)}&revision={typo}",
            headers={"Content-Type": "application/x-www-form-urlencoded", **cookie_header(admin)},
        )
        assert refused.status_code < 500 and services.endpoints.get("churn-api").revision == revision, refused.text


def test_the_version_page_shows_the_signature_metrics_and_a_histogram_per_feature(console: InProcess) -> None:
    page = console.get("/ui/models/churn/versions/1", headers=cookie_header(login(console, "read")))
    assert page.status_code == 200
    for feature in ("age", "income", "plan"):
        assert f'id="feature-{feature}"' in page.text
    assert page.text.count('<svg class="chart"') == 3
    assert "auc" in page.text and "0.91" in page.text and "int64" in page.text
    assert "churn-api" in page.text  # served by
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_compare_shows_differences_only(console: InProcess) -> None:
    cookies = cookie_header(login(console, "read"))
    every = console.get("/ui/models/churn/compare?a=1&b=2", headers=cookies)
    only = console.get("/ui/models/churn/compare?a=1&b=2&diff=1", headers=cookies)
    assert "metric.auc" in only.text and "param.C" in only.text
    assert "input.age" in every.text and "input.age" not in only.text


def test_models_list_searches_and_pages_with_a_cursor(console: InProcess, tmp_path: Path, churn_model: tuple[Path, Path]) -> None:
    services = console.app.state.services
    for i in range(55):
        services.registry.create_model(f"extra-{i:02d}")
    cookies = cookie_header(login(console, "read"))
    first = console.get("/ui/models", headers=cookies)
    rows = re.compile(r'<td><a href="/ui/models/[^"/]+">')
    assert len(rows.findall(first.text)) == 50
    nxt = re.search(r'href="(/ui/models\?[^"]*cursor=[^"]+)"', first.text).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    second = console.get(nxt, headers=cookies)
    assert second.status_code == 200 and len(rows.findall(second.text)) == 6
    found = console.get("/ui/models?q=churn", headers=cookies)
    assert ">churn<" in found.text and "extra-00" not in found.text


def test_something_deleted_gets_the_404_page_with_a_way_back(console: InProcess) -> None:
    cookies = cookie_header(login(console, "read"))
    for path in ("/ui/models/churn/versions/9", "/ui/endpoints/gone", "/ui/monitoring/gone", "/ui/no/such/page"):
        page = console.get(path, headers=cookies)
        assert page.status_code == 404, path
        assert "text/html" in page.headers["content-type"]
        assert 'href="/ui"' in page.text


def test_every_section_answers(console: InProcess) -> None:
    cookies = cookie_header(login(console, "read"))
    for path in ("/ui/models", "/ui/models/churn", "/ui/endpoints", "/ui/endpoints/churn-api/try", "/ui/monitoring", "/ui/experiments", "/ui/jobs"):
        page = console.get(path, headers=cookies)
        assert page.status_code == 200, (path, page.text[:300])
        assert "Server-Timing" in page.headers
    assert '<a href="/ui/tuning"' in console.get("/ui/models", headers=cookies).text  # P12's tuning service exists


def test_live_figures_count_the_endpoints_requests(console: InProcess) -> None:
    cookies = cookie_header(login(console, "read"))
    before = console.get("/ui/endpoints/churn-api/live", headers=cookies).json()
    body = orjson.dumps({"dataframe_records": [{"age": 50, "income": 60.0, "plan": "pro"}]})
    for _ in range(3):
        r = console.post("/endpoints/churn-api/invocations", content=body, token="invoke", headers={"Content-Type": "application/json"})
        assert r.status_code == 200
    after = console.get("/ui/endpoints/churn-api/live", headers=cookies).json()
    total = sum(v["requests"] for v in after["variants"].values()) - sum(v["requests"] for v in before["variants"].values())
    assert total == 3
    assert after["variants"]["a"]["weight"] == 80
    assert console.get("/ui/endpoints/churn-api/live").status_code == 401


def test_try_it_calls_the_endpoint_with_the_console_session_and_its_csrf_echo(console: InProcess) -> None:
    admin = login(console, "admin")
    page = console.get("/ui/endpoints/churn-api/try", headers=cookie_header(admin))
    body = orjson.dumps({"dataframe_records": [{"age": 50, "income": 60.0, "plan": "pro"}]})
    headers = {"Content-Type": "application/json", **cookie_header(admin)}
    answer = console.post("/endpoints/churn-api/invocations", content=body, headers={**headers, "X-Modelport-CSRF": csrf_of(page)})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-amzn-invoked-production-variant"] in ("a", "b")
    # the cookie alone is not enough: another site's form cannot echo the CSRF value
    assert console.post("/endpoints/churn-api/invocations", content=body, headers=headers).status_code == 401
    wrong = console.post(
        "/endpoints/churn-api/invocations",
        content=orjson.dumps({"dataframe_records": [{"age": "old", "income": 60.0, "plan": "pro"}]}),
        headers={**headers, "X-Modelport-CSRF": csrf_of(page)},
    )
    assert wrong.status_code == 424
    assert "column 'age'" in wrong.json()["OriginalMessage"]  # what try.js marks the field with


def test_try_it_fields_follow_the_signature_and_the_baseline(console: InProcess, tmp_path: Path) -> None:
    with Client(home=tmp_path / "home0") as client:
        mv = client.models.show("churn:1")
    fields = {f["name"]: f for f in try_fields(mv.signature, mv.baseline)}
    assert fields["age"]["kind"] == "integer" and fields["age"]["value"].isdigit()
    assert 18 <= float(fields["age"]["value"]) <= 79
    assert fields["income"]["kind"] == "number"
    assert sorted(fields["plan"]["categories"]) == ["basic", "pro", "team"]
    assert fields["plan"]["value"] in ("basic", "pro", "team")
    page = console.get("/ui/endpoints/churn-api/try", headers=cookie_header(login(console, "read")))
    assert 'name="age"' in page.text and 'name="plan"' in page.text and "<datalist" in page.text


def test_charts_are_down_sampled_to_2000_points_keeping_spikes() -> None:
    xs = [float(i) for i in range(100_000)]
    ys: list[float | None] = [0.0] * 100_000
    ys[77_777] = 9.0
    bounds = [v - 1 if v is not None else None for v in ys]
    x, (y, low) = downsample(xs, ys, bounds)
    assert len(x) == len(y) == len(low) <= MAX_POINTS
    assert 9.0 in y
    assert all(lo == v - 1 for v, lo in zip(y, low, strict=True))  # every series at the same points as the first


def test_without_auth_the_console_is_open_and_actions_still_need_the_csrf_echo(
    in_process: Callable[..., InProcess], tmp_path: Path, churn_model: tuple[Path, Path]
) -> None:
    deploy(tmp_path / "home0", churn_model)
    api = in_process()
    page = api.get("/ui/endpoints/churn-api")
    assert page.status_code == 200
    cookies = set_cookies(page)
    assert "modelport_csrf" in cookies
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    forged = api.post("/ui/endpoints/churn-api/weights", content="weight.a=1", headers=form)
    assert forged.status_code == 403
    ok = api.post(
        "/ui/endpoints/churn-api/weights",
        content=f"csrf={cookies['modelport_csrf']}&weight.a=1",
        headers={**form, **cookie_header(cookies)},
    )
    assert ok.status_code == 303


def test_the_experiment_page_charts_the_lift_and_its_confidence_sequence_at_every_look(
    console: InProcess, tmp_path: Path
) -> None:
    with Client(home=tmp_path / "home0") as client:
        client.experiments.start("churn-ab", "churn-api", "a", "b", metric="error_rate")
    experiments = console.app.state.services.experiments
    for _ in range(3):
        experiments.evaluate("churn-ab")
    trace = experiments.get("churn-ab").state["trace"]
    assert len(trace) >= 3 and all(len(point) == 4 for point in trace)
    page = console.get("/ui/experiments/churn-ab", headers=cookie_header(login(console, "read")))
    assert 'data-chart="trace-data"' in page.text
    assert "control" in page.text and "treatment" in page.text


def test_an_experiment_trace_keeps_its_whole_span_when_full() -> None:
    from datetime import UTC, datetime, timedelta

    from modelport.experiments.service import TRACE_POINTS, traced

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    trace: list[list[float | None]] = []
    for i in range(TRACE_POINTS * 3):
        trace = traced(trace, t0 + timedelta(seconds=i), {"lift": {"absolute": 0.1, "ci": [0.0, 0.2]}})
    assert len(trace) <= TRACE_POINTS
    assert trace[0][0] == t0.timestamp() and trace[-1][0] > (t0 + timedelta(seconds=TRACE_POINTS * 2)).timestamp()


def test_endpoints_list_searches_and_pages_by_name(console: InProcess) -> None:
    from modelport.endpoints.config import EndpointConfig, Variant
    from modelport.endpoints.store import EndpointStore

    store = EndpointStore(console.app.state.services.db)
    for i in range(55):
        store.create(f"ep-{i:02d}", EndpointConfig(variants=[Variant(name="a", model="churn:1")]), created_by="test")
    cookies = cookie_header(login(console, "read"))
    rows = re.compile(r'<td><a href="/ui/endpoints/([^"/]+)">')
    first = console.get("/ui/endpoints", headers=cookies)
    assert rows.findall(first.text) == ["churn-api"] + [f"ep-{i:02d}" for i in range(49)]
    assert "(56)" in first.text
    second = console.get("/ui/endpoints?q=&after=ep-48", headers=cookies)
    assert rows.findall(second.text) == [f"ep-{i:02d}" for i in range(49, 55)]
    assert 'rel="next"' not in second.text
    assert rows.findall(console.get("/ui/endpoints?q=churn", headers=cookies).text) == ["churn-api"]


def test_monitoring_experiment_and_jobs_pages_show_what_ran(
    in_process: Callable[..., InProcess], tmp_path: Path, churn_model: tuple[Path, Path]
) -> None:
    from tests.ui.conftest import seed_all

    tokens = seed_all(tmp_path / "home0", churn_model)
    api = in_process()
    api.tokens.update(tokens)
    cookies = cookie_header(login(api, "read"))

    monitor = api.get("/ui/monitoring/churn-drift", headers=cookies).text
    heat = re.findall(r'<tr><th scope="row">(\w+)</th><td class="cell (h-[\w-]+)"', monitor)
    assert dict(heat)["income"] == "h-4"  # shifted by 12: past its threshold, red
    assert {name for name, _ in heat} == {"age", "income", "plan"}
    assert monitor.count(': baseline vs last window"') == 3  # a distribution chart per feature (its aria-label)
    assert 'data-chart="quality-data"' in monitor and "estimated without labels" in monitor
    assert "income/baseline_drift_check" in monitor  # the alert

    jobs = api.get("/ui/jobs", headers=cookies).text
    assert 'data-status="completed"' in jobs and "churn:1" in jobs
    progress = api.get("/ui/jobs/progress", headers=cookies).json()
    (job,) = progress.values()
    assert job["status"] == "completed" and job["records"] == 1000

    experiment = api.get("/ui/experiments/churn-ab", headers=cookies).text
    assert "churn-api" in experiment and "error_rate" in experiment
    assert "Stop the experiment" not in experiment  # a read token


def test_the_jobs_page_lists_asynchronous_requests(console: InProcess, tmp_path: Path) -> None:
    services = console.app.state.services
    services.endpoints.update("churn-api", async_inference={"output_path": str(tmp_path / "out")}, created_by="test")
    rows = tmp_path / "rows.csv"
    rows.write_text("age,income,plan\n30,1000,pro\n")
    item, _ = services.async_inference.submit("churn-api", str(rows), content_type="text/csv", created_by="test")
    page = console.get("/ui/jobs", headers=cookie_header(login(console, "read")))
    assert page.status_code == 200 and item.id in page.text and "churn-api" in page.text


def test_an_admin_stops_an_experiment_restoring_the_weights(console: InProcess, tmp_path: Path) -> None:
    with Client(home=tmp_path / "home0") as client:
        client.experiments.start("churn-ab", "churn-api", "a", "b", metric="error_rate")
    services = console.app.state.services
    admin = login(console, "admin")
    page = console.get("/ui/experiments/churn-ab", headers=cookie_header(admin))
    assert "Stop the experiment" in page.text
    answer = console.post(
        "/ui/experiments/churn-ab/stop",
        content=f"csrf={csrf_of(page)}&reason=enough&restore=1",
        headers={"Content-Type": "application/x-www-form-urlencoded", **cookie_header(admin)},
    )
    assert answer.status_code == 303
    stopped = services.experiments.get("churn-ab")
    assert stopped.status != "running" and "enough" in (stopped.stop_reason or "")
    assert {v.name: v.weight for v in services.endpoints.get("churn-api").config.live} == {"a": 80, "b": 20}


def test_a_slow_page_does_not_hold_up_predictions(console: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages read the database on the thread pool: while one waits, the endpoint still answers."""
    import asyncio
    import threading

    services = console.app.state.services
    release = threading.Event()
    reading = threading.Event()
    original = services.registry.list_models

    def slow_list(**filters: object) -> object:
        reading.set()
        release.wait(10)
        return original(**filters)

    monkeypatch.setattr(services.registry, "list_models", slow_list)
    cookies = cookie_header(login(console, "read"))
    body = orjson.dumps({"dataframe_records": [{"age": 50, "income": 60.0, "plan": "pro"}]})

    async def both() -> tuple[int, int]:
        transport = httpx.ASGITransport(app=console.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://modelport") as client:
            page = asyncio.ensure_future(client.get("/ui/models", headers=cookies))
            while not reading.is_set():
                await asyncio.sleep(0.01)
            answer = await client.post(
                "/endpoints/churn-api/invocations",
                content=body,
                headers={"Authorization": f"Bearer {console.tokens['invoke']}", "Content-Type": "application/json"},
            )
            assert not page.done()  # the page is still waiting on its read
            release.set()
            return answer.status_code, (await page).status_code

    assert console.loop.run_until_complete(both()) == (200, 200)


def test_a_window_without_its_first_or_last_bucket_is_drawn_on_the_baseline_bins() -> None:
    """statistics.json leaves out an empty outer bucket (a shifted feature): the chart places buckets by their
    bounds (it used to drop the feature's chart when the counts no longer lined up)."""
    from modelport.ui.monitor_pages import _on_bins

    edges = [1.0, 2.0, 3.0]  # bins: <1, [1,2), [2,3), >=3
    shifted = [{"lower_bound": 1.0, "upper_bound": 2.0, "count": 5}, {"lower_bound": 2.0, "upper_bound": 3.0, "count": 7},
               {"lower_bound": 3.0, "upper_bound": 9.0, "count": 8}]  # fmt: skip
    assert _on_bins(shifted, edges, 4) == [0.0, 5.0, 7.0, 8.0]
    low = [{"lower_bound": -4.0, "upper_bound": 1.0, "count": 3}, {"lower_bound": 1.0, "upper_bound": 2.0, "count": 1}]
    assert _on_bins(low, edges, 4) == [3.0, 1.0, 0.0, 0.0]
    assert _on_bins(shifted, [1.5, 2.5, 3.5], 4) is None  # another baseline's bins: not drawn
    assert _on_bins([{"lower_bound": 4.0, "upper_bound": 4.0, "count": 9}], [], 1) == [9.0]  # a constant feature
