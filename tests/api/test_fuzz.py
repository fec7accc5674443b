"""A bounded schemathesis run against a live server: no server errors, and answers that keep to /openapi.json.

Every control-API operation in the document, generated from a fixed seed with
a fixed budget of examples per operation (all phases: coverage, fuzzing,
stateful), with auth on and an admin token.  Checks: no 5xx; every status,
content type, header and body as the document declares; a 405 names what is
allowed; an operation that declares the bearer token refuses a request
without one.  (``positive_data_acceptance`` is left out: the document cannot
say that a job's input must exist or a variant must name a model.)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from modelport.client import Client
from tests import infra

pytestmark = pytest.mark.slow

SEED = 20261206
EXAMPLES = 40  # per operation and phase; ~40 s here, on 2 busy cores
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "unsupported_method",
        "ignored_auth",
    ]
)


def test_a_fuzzer_finds_no_server_error_and_no_answer_outside_the_schema(tmp_path: Path) -> None:
    home = tmp_path / "h"
    with Client(home=home) as local:
        admin = local.tokens.create("admin", "fuzzer").secret
    with infra.live_server({"MODELPORT_HOME": str(home)}) as live:
        proc = subprocess.run(
            [
                sys.executable, "-m", "schemathesis.cli", "--no-color", "run", f"{live.url}/openapi.json",
                "--header", f"Authorization: Bearer {admin}",
                "--checks", CHECKS,
                "--max-examples", str(EXAMPLES),
                "--seed", str(SEED),
                "--workers", "1",
                "--generation-database", "none",
                "--request-timeout", "20",
                "--include-path-regex", "^/api/v1/",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,  # nothing written into the checkout
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-8000:]
        generated = re.search(r"(\d+) generated", out)
        assert generated is not None and int(generated.group(1)) > 1000, out[-3000:]
        operations = re.search(r"Operations:\s+(\d+) selected / (\d+) total", out)
        assert operations is not None and operations.group(1) == operations.group(2), out[-3000:]  # all of them
        # the run still had its token at the end (it was not fuzzed into 401s), and the server is well
        r = httpx.get(f"{live.url}/api/v1/models", headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 200, r.text
        assert "Traceback" not in live.log(), live.log()[-5000:]
