"""wrk as the load generator: a POST script per request shape, results read back as JSON.

The Lua script counts every reply outside 2xx itself (wrk's own "status"
error counts only >= 400), and ``done()`` prints one ``WRKJSON`` line with
the request count, socket errors and latency percentiles in microseconds.
wrk is closed-loop: each connection sends its next request when the reply
arrives, so latency under load includes queueing in the server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from peers.process import Probe

INSTALL_HINT = "apt-get update && apt-get install -y wrk"

LUA = """\
wrk.method = "{method}"
{headers}
wrk.body = [==[{body}]==]

local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local non2xx = 0
  for _, t in ipairs(threads) do
    non2xx = non2xx + t:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"timeout": %d, "non2xx": %d, "p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.timeout, non2xx,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    socket_errors: int
    non2xx: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non2xx


def wrk_path() -> str | None:
    return shutil.which("wrk")


def write_script(probe: Probe, path: Path) -> Path:
    body = probe.body.decode()
    if "]==]" in body:
        raise ValueError("request body contains the Lua long-string terminator")
    headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in probe.headers.items())
    path.write_text(LUA.format(method=probe.method, headers=headers, body=body))
    return path


def run_wrk(probe: Probe, script: Path, *, connections: int, seconds: int, log: Path) -> LoadResult:
    """One wrk run at ``connections``, threads = min(2, connections); timeout 5 s per request."""
    threads = min(2, connections)
    cmd = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency",
        "-s", str(script), probe.url,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        out, _ = proc.communicate(timeout=seconds + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.decode(errors="replace")
    with log.open("a") as f:
        f.write("$ " + " ".join(cmd) + "\n" + text + "\n")
    line = next((ln for ln in text.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}): {text[-400:]}")
    d = json.loads(line.removeprefix("WRKJSON "))
    return LoadResult(
        requests=d["requests"],
        seconds=d["duration_us"] / 1e6,
        # wrk also counts 4xx/5xx as "status" errors; non2xx (from the script) covers those and 1xx/3xx
        socket_errors=d["connect"] + d["read"] + d["write"] + d["timeout"],
        non2xx=d["non2xx"],
        p50_ms=d["p50"] / 1000,
        p90_ms=d["p90"] / 1000,
        p99_ms=d["p99"] / 1000,
        max_ms=d["max"] / 1000,
    )
