"""`modelport server --detach / --stop` and `modelport wait-ready`: a server a script can wait on."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tomllib
from pathlib import Path

import httpx
import pytest

from modelport.background import base_url, wait_ready
from modelport.errors import Unavailable
from tests import infra


def run(*args: str, home: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"MODELPORT_HOME": str(home)} if home else {})}
    return subprocess.run([*infra.modelport_cmd(), *args], env=env, capture_output=True, text=True, timeout=timeout)


def closed_port() -> int:
    return infra.free_port()  # nothing listens there (a race with other programs is possible, and harmless here)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
def test_detach_returns_once_ready_and_stop_ends_it(tmp_path: Path) -> None:
    home = tmp_path / "h"
    started = run("server", "--detach", "--port", "0", "--json", home=home)
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    try:
        assert httpx.get(f"{info['url']}/ping").status_code == 200  # no waiting: it is ready when the command returns
        assert set(info) == {"url", "pid", "port", "log"} and info["url"] == f"http://127.0.0.1:{info['port']}"
        assert pid_alive(info["pid"])
        httpx.get(f"{info['url']}/api/v1/models")
        infra.wait_for(lambda: "GET /api/v1/models 200" in Path(info["log"]).read_text(), 10, "the access line in the log file")

        again = run("server", "--detach", "--port", str(info["port"]), home=tmp_path / "other")
        assert again.returncode == 1 and again.stderr == f"error: port {info['port']} is already in use\n"
        assert not (tmp_path / "other" / "run").exists() or not list((tmp_path / "other" / "run").iterdir())
    finally:
        stopped = run("server", "--stop", "--port", str(info["port"]), home=home)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == f"stopped the server on port {info['port']} (pid {info['pid']})"
    assert not pid_alive(info["pid"])  # --stop returns once the process is gone
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{info['url']}/ping")
    assert "Granian shutdown completed" in Path(info["log"]).read_text()  # a graceful stop
    twice = run("server", "--stop", "--port", str(info["port"]), home=home)
    assert twice.returncode == 1
    assert twice.stderr.startswith(f"error: no server was started with --detach on port {info['port']}")
    assert twice.stderr.count("\n") == 1


@pytest.mark.slow
def test_detach_prints_where_it_runs(tmp_path: Path) -> None:
    home = tmp_path / "h"
    port = infra.free_port()
    started = run("server", "--detach", "--port", str(port), home=home)
    try:
        assert started.returncode == 0, started.stderr
        url = f"http://127.0.0.1:{port}"
        first, second = started.stdout.strip().splitlines()
        assert first.startswith(f"modelport server ready at {url} (pid ") and str(home / "logs") in first
        assert second == f"stop it with: modelport server --stop --port {port}"
        assert httpx.get(f"{url}/ping").status_code == 200
    finally:
        assert run("server", "--stop", "--port", str(port), home=home).returncode == 0


@pytest.mark.slow
def test_wait_ready_waits_for_a_server_started_in_the_background(tmp_path: Path) -> None:
    port = infra.free_port()
    env = {**os.environ, "MODELPORT_HOME": str(tmp_path / "h")}
    proc = subprocess.Popen(  # what `modelport server --port P &` does in a shell
        [*infra.modelport_cmd(), "server", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        ready = run("wait-ready", f"localhost:{port}", "--timeout", "60", "--json")
        assert ready.returncode == 0, ready.stderr
        assert json.loads(ready.stdout)["ready"] is True
        assert httpx.get(f"http://localhost:{port}/ping").status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.slow
def test_wait_ready_times_out_with_one_line() -> None:
    port = closed_port()
    result = run("wait-ready", f"http://127.0.0.1:{port}", "--timeout", "0.5")
    assert result.returncode == 1
    assert result.stderr == f"error: http://127.0.0.1:{port} is not ready after 0.5 s (connection refused)\n"


def test_wait_ready_gives_up_at_the_deadline_on_an_injected_clock() -> None:
    port = closed_port()
    ticks = iter([0.0, 1.0, 2.0, 3.5])
    with pytest.raises(Unavailable, match=rf"^http://127\.0\.0\.1:{port} is not ready after 3 s \(connection refused\)$"):
        wait_ready(f"127.0.0.1:{port}", 3, interval=0, clock=lambda: next(ticks))
    with pytest.raises(Unavailable, match="exited before it was ready"):
        wait_ready(f"127.0.0.1:{port}", 3, interval=0, alive=lambda: False)
    assert base_url("localhost:8080/") == "http://localhost:8080"


def test_the_clients_of_the_readme_come_from_an_extra() -> None:
    extras = tomllib.loads((infra.REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {dep.split(">")[0].split("[")[0] for dep in extras["clients"]} == {"boto3", "tritonclient"}
    assert "clients" in extras["all"][0]


def test_detach_and_stop_are_exclusive(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("server", "--detach", "--stop")
    assert code == 1 and err == "error: pass --detach or --stop, not both\n"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, _, err = cli("server", "--detach", "--port", str(port))  # refused before anything starts
    assert code == 1 and err == f"error: port {port} is already in use\n"


@pytest.mark.slow
def test_detach_reports_why_a_server_did_not_start(tmp_path: Path) -> None:
    env_home = tmp_path / "h"
    env = {**os.environ, "MODELPORT_HOME": str(env_home), "MODELPORT_DATABASE_URL": "sqlite:////proc/nope/x.db"}
    result = subprocess.run(
        [*infra.modelport_cmd(), "server", "--detach", "--port", "0"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert result.stderr == "error: No such file or directory: /proc/nope\n"  # what the server itself said
    assert list((env_home / "run").glob("*.json")) == []
