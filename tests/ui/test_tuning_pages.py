"""The console's Tuning pages in process, over jobs the tuning service really ran (a tiny trial function):
the list, a job's charts and its paged trials table, stop and resume, and the down-sampling at 5,000 trials."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelport.services import Services
from modelport.settings import Settings
from modelport.tuning.job import Trial, TuningJob, summarize
from modelport.tuning.spec import TuningSpec
from modelport.ui import tuning_pages
from modelport.ui.charts import MAX_POINTS
from tests.ui.conftest import InProcess, run_tuning
from tests.ui.test_console import cookie_header, csrf_of, login


@pytest.fixture
def tuned(in_process: Callable[..., InProcess], tmp_path: Path) -> InProcess:
    """``one`` (score: max) and ``two`` (score: max, cost: min) ran 8 trials each; ``later`` is pending."""
    home, work = tmp_path / "home0", tmp_path / "work"  # the home in_process opens first
    run_tuning(home, work, "one", ["score:max"])
    run_tuning(home, work, "two", ["score:max", "cost:min"])
    svc = Services.open(Settings(home=home))
    try:
        svc.tuning.create(svc.tuning.get("one").spec.model_copy(update={"name": "later", "trials": 3}), created_by="test")
    finally:
        svc.close()
    return in_process(tokens=("admin", "read"))


def chart_data(page: str, element: str) -> dict[str, object]:
    found = re.search(rf'<script type="application/json" id="{element}">(.*?)</script>', page, re.S)
    assert found, element
    return json.loads(html.unescape(found.group(1)))  # type: ignore[no-any-return]


def test_the_list_shows_each_job_with_its_best_value_and_trial_count(tuned: InProcess) -> None:
    cookies = cookie_header(login(tuned, "read"))
    page = tuned.get("/ui/tuning", headers=cookies)
    assert page.status_code == 200 and "Server-Timing" in page.headers
    best = tuned.app.state.services.tuning.get("one").best
    assert best is not None
    row = re.search(r'<a href="/ui/tuning/one">one</a>.*?</tr>', page.text, re.S).group(0)  # type: ignore[union-attr]
    assert f'{best.values[0]:.6g}' in row and ">8 / 8<" in row  # type: ignore[index]
    assert "later" in page.text
    only = tuned.get("/ui/tuning?status=pending", headers=cookies).text
    assert "/ui/tuning/later" in only and "/ui/tuning/one" not in only


def test_a_job_page_charts_the_history_top_trials_and_importance(tuned: InProcess) -> None:
    cookies = cookie_header(login(tuned, "read"))
    page = tuned.get("/ui/tuning/one", headers=cookies).text
    history = chart_data(page, "history-data")
    objective, best = history["series"]  # type: ignore[misc]
    assert history["x"] == list(range(8))
    assert best["y"] == [max(objective["y"][: i + 1]) for i in range(8)]  # best so far of a maximised score
    assert "aria-label='parallel coordinates of the top 8 trials'" in page
    assert "Pareto front" not in page  # one objective
    # importances are computed off the request: the page says so, then shows them
    deadline = time.monotonic() + 30
    while "aria-label='parameter importance'" not in page:
        assert time.monotonic() < deadline, "importances never appeared"
        assert "Computing" in page
        time.sleep(0.2)
        page = tuned.get("/ui/tuning/one", headers=cookies).text
    assert "fANOVA on 8 complete trials" in page
    assert "Stop the job" not in page and "Resume" not in page  # a read token, and a completed job


def test_a_two_objective_job_shows_its_pareto_front(tuned: InProcess) -> None:
    cookies = cookie_header(login(tuned, "read"))
    page = tuned.get("/ui/tuning/two", headers=cookies).text
    front = re.search(r"(\d+) trials on the front", page)
    assert front and int(front.group(1)) >= 1
    assert "aria-label='Pareto front of score and cost'" in page
    assert page.count("<span class=\"pill\">Pareto</span>") == int(front.group(1))


def test_the_trials_table_pages_with_a_cursor_and_filters_by_state(tuned: InProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tuning_pages, "PAGE_SIZE", 3)
    cookies = cookie_header(login(tuned, "read"))

    def numbers(text: str) -> list[int]:
        body = text[text.index('id="trials"') :]
        return [int(n) for n in re.findall(r'<tr[^>]*>\s*<td class="num">(\d+)</td>', body)]

    seen: list[int] = []
    url: str | None = "/ui/tuning/one"
    while url:
        page = tuned.get(url, headers=cookies).text
        seen += numbers(page)
        link = re.search(r'href="(\?[^"]*after=\d+)#trials" rel="next"', page)
        url = "/ui/tuning/one" + html.unescape(link.group(1)) if link else None
    assert seen == list(range(8))  # three pages, nothing twice
    assert "<th scope=\"col\">x</th>" in page and "<th scope=\"col\" class=\"num\">score</th>" in page
    assert numbers(tuned.get("/ui/tuning/one?state=failed", headers=cookies).text) == []
    for cursor in ("abc", "--5", "²", "9" * 40):  # "--5" and "²" passed an isdigit() check and were a 500
        bad = tuned.get("/ui/tuning/one", params={"after": cursor}, headers=cookies)
        assert bad.status_code == 400 and "invalid cursor" in bad.text
    assert tuned.get("/ui/tuning/gone", headers=cookies).status_code == 404


def test_an_admin_stops_and_resumes_a_job_with_the_csrf_echo_and_a_read_token_cannot(tuned: InProcess) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    reader = cookie_header(login(tuned, "read"))
    page = tuned.get("/ui/tuning/later", headers=reader)
    assert "Stop the job" not in page.text
    refused = tuned.post("/ui/tuning/later/stop", content=f"csrf={csrf_of(page)}", headers={**form, **reader})
    assert refused.status_code == 403 and "may only look" in refused.text

    admin = cookie_header(login(tuned, "admin"))
    page = tuned.get("/ui/tuning/later", headers=admin)
    assert "Stop the job" in page.text and "Start the job" in page.text
    stale = tuned.post("/ui/tuning/later/stop", content="csrf=forged", headers={**form, **admin})
    assert stale.status_code == 403
    stopped = tuned.post("/ui/tuning/later/stop", content=f"csrf={csrf_of(page)}", headers={**form, **admin})
    assert stopped.status_code == 303
    page = tuned.get(stopped.headers["location"], headers=admin).text
    assert "job stopped" in page and "Resume the job" in page
    resumed = tuned.post("/ui/tuning/later/resume", content=f"csrf={csrf_of(tuned.get('/ui/tuning/later', headers=admin))}", headers={**form, **admin})
    assert resumed.status_code == 303
    deadline = time.monotonic() + 30
    while ">completed<" not in (page := tuned.get("/ui/tuning/later", headers=admin).text):
        assert time.monotonic() < deadline, "the resumed job never completed"
        time.sleep(0.2)
    assert "3 of 3: 3 complete" in page


def test_charts_of_a_job_with_5000_trials_are_down_sampled_keeping_the_front_and_the_best() -> None:
    s = TuningSpec.build(name="big", objectives=["score:max", "cost:min"], params=["x=float:0:4"], trial="m:f")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    trials = [
        Trial(number=i, state="complete", params={"x": (i * 7919 % 5000) / 1250}, values=[v := ((i * 7919) % 5000) / 5000, (i * 104729 % 5000) / 5000],
              metrics={"score": v}, started_at=start, finished_at=start + timedelta(seconds=1))
        for i in range(5000)
    ]
    job = summarize(TuningJob(name="big", status="completed", spec=s, created_at=start, updated_at=start), trials)
    view = tuning_pages.build_view(job)
    assert view.history is not None
    xs = view.history["x"]
    best_line = view.history["series"][1]["y"]
    assert len(xs) <= MAX_POINTS and best_line[-1] == max(t.values[0] for t in trials if t.values)  # type: ignore[index]
    front = sum(t.pareto for t in job.trials)
    assert view.pareto_points <= MAX_POINTS
    assert str(view.pareto).count("r='6'") == front  # every point of the front is drawn


def test_a_running_jobs_view_is_rebuilt_at_most_every_few_seconds_but_its_status_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelport.tuning.store import TrialStart

    home, work = tmp_path / "home", tmp_path / "work"
    run_tuning(home, work, "live", ["score:max"], run=False)
    svc = Services.open(Settings(home=home))
    try:
        store, views = svc.tuning.store, tuning_pages.TuningViews()
        job_id = store.job_id("live")
        first = views.view(svc.tuning, "live")
        store.record(job_id, ended=[], started=[TrialStart(0, {"x": 1.0, "k": 1})])
        assert views.view(svc.tuning, "live") is first  # trials moved: the kept view, for now
        monkeypatch.setattr(tuning_pages, "REFRESH_S", 0.0)
        assert views.view(svc.tuning, "live").counts["running"] == 1  # later: read again
        monkeypatch.setattr(tuning_pages, "REFRESH_S", 60.0)
        store.request_stop("live")
        assert views.view(svc.tuning, "live").job.stop_requested  # the job itself changed: at once
    finally:
        svc.close()
