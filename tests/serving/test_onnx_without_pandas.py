"""An ONNX endpoint serves every body type with pandas not installed (the slim endpoint image).

The app runs in a child Python in which ``import pandas`` fails (no server, no
port: requests go through httpx's ASGI transport, as in tests/api/conftest.py);
the model is registered by this process, as ``modelport build`` does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from sklearn.linear_model import LinearRegression

from modelport.services import Services
from modelport.settings import Settings

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]

CHILD = textwrap.dedent(
    """
    import asyncio, importlib.abc, json, sys

    class NoPandas(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "pandas" or name.startswith("pandas."):
                raise ImportError(f"No module named {name!r} (blocked by the test)")
            return None

    sys.meta_path.insert(0, NoPandas())

    import httpx
    from modelport.api.app import create_app
    from modelport.api.rsgi import RSGIApp
    from modelport.settings import Settings

    home, rows = sys.argv[1], json.loads(sys.argv[2])
    csv = "".join(",".join(map(str, r)) + "\\n" for r in rows)
    named = [{"X": r} for r in rows]
    JSON, CSV = "application/json", "text/csv"
    calls = {
        "csv": ("/endpoints/iris/invocations", CSV, csv),
        "csv header": ("/endpoints/iris/invocations", CSV, "a,b,c,d\\n" + csv),
        "container csv": ("/invocations", CSV, csv),
        "instances": ("/invocations", JSON, json.dumps({"instances": rows})),
        "inputs": ("/invocations", JSON, json.dumps({"inputs": rows})),
        "dataframe_split": ("/invocations", JSON, json.dumps({"dataframe_split": {"columns": list("abcd"), "data": rows}})),
        "dataframe_records": ("/invocations", JSON, json.dumps({"dataframe_records": named})),
        "rows": ("/endpoints/iris/invocations", JSON, json.dumps(rows)),
        "v2": ("/v2/models/iris/infer", JSON, json.dumps(
            {"inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": sum(rows, [])}]}
        )),
    }
    app = create_app(Settings(home=home, serve_endpoint="iris"), single_endpoint="iris")
    lifespan = RSGIApp(app)
    loop = asyncio.new_event_loop()
    lifespan.__rsgi_init__(loop)

    async def send(path, ctype, body):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://modelport") as client:
            r = await client.post(path, content=body, headers={"Content-Type": ctype, "Accept": JSON})
            return r.status_code, r.text

    replies = {name: loop.run_until_complete(send(*call)) for name, call in calls.items()}
    lifespan.__rsgi_del__(loop)
    print(json.dumps({"replies": replies, "pandas": "pandas" in sys.modules}))
    """
)


def test_an_onnx_endpoint_answers_every_body_type_without_pandas(tmp_path: Path) -> None:
    from skl2onnx import to_onnx

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)).astype(np.float32)
    model = LinearRegression().fit(x, x @ np.array([1.0, -2.0, 0.5, 3.0]) + 1)
    path = tmp_path / "iris.onnx"
    path.write_bytes(to_onnx(model, x[:1], target_opset=17).SerializeToString())
    home = tmp_path / "home"
    svc = Services.open(Settings(home=home))
    try:
        svc.registry.register(path, "iris")
        svc.endpoints.create(
            "iris",
            [{"name": "only", "requested": "iris:1"}],
            capture={"enabled": True, "sampling_percent": 100},
            created_by="tests",
        )
    finally:
        svc.close()

    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), json.dumps(ROWS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    expected = model.predict(np.array(ROWS, dtype=np.float32))
    for name, (status, reply) in result["replies"].items():
        assert status == 200, f"{name}: {status} {reply}"
        numbers = [float(v) for v in _numbers(json.loads(reply))]
        assert np.allclose(numbers[-2:], expected, rtol=1e-5), f"{name}: {reply}"
    assert result["pandas"] is False


def _numbers(value: object) -> list[float]:
    """The numbers of a reply in document order (the predictions come last in every envelope used here)."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return [value] if isinstance(value, float) else []
