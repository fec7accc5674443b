"""`make demo`: the main job end to end, as a user would type it.

Trains real scikit-learn models, registers them (one converted to ONNX with a
parity check), moves an alias, deploys two variants behind an endpoint,
starts a server and calls it with curl, boto3 and tritonclient — then shifts
the traffic live.  Each step is a `modelport` command, printed before it runs.
State goes to ./.demo-home (wiped first), so the demo can be rerun.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / ".demo-home"
ENV = {**os.environ, "MODELPORT_HOME": str(HOME), "COLUMNS": "120"}
console = Console()


def modelport(*args: str, env: dict[str, str] | None = None) -> str:
    console.print(f"\n[bold cyan]$ modelport {shlex.join(args)}[/bold cyan]")
    proc = subprocess.run(
        [sys.executable, "-m", "modelport.cli.main", *args], env=env or ENV, capture_output=True, text=True
    )
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"demo step failed with exit code {proc.returncode}")
    return proc.stdout


def train(work: Path, depth: int) -> float:
    import joblib
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    model = RandomForestClassifier(n_estimators=50, max_depth=depth, random_state=0).fit(x_train, y_train)
    joblib.dump(model, work / f"rf-depth{depth}.joblib")
    x_train.to_csv(work / "train.csv", index=False)
    x_test.head(3).to_csv(work / "rows.csv", index=False, header=False)
    return float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    shutil.rmtree(HOME, ignore_errors=True)
    work = HOME / "work"
    work.mkdir(parents=True)

    console.rule("1. train two candidate models (breast cancer data shipped with scikit-learn)")
    scores = {depth: train(work, depth) for depth in (3, 8)}
    for depth, auc in scores.items():
        console.print(f"trained rf-depth{depth}.joblib: test AUC {auc:.4f}")

    console.rule("2. register them: signature + baseline from a sample; v2 converted to ONNX, parity-checked")
    modelport("models", "register", str(work / "rf-depth3.joblib"), "--name", "cancer", "--sample", str(work / "train.csv"),
              "--metric", f"auc={scores[3]:.4f}", "--param", "max_depth=3", "--tag", "team=demo")
    modelport("models", "register", str(work / "rf-depth8.joblib"), "--name", "cancer", "--sample", str(work / "train.csv"),
              "--to-onnx", "--metric", f"auc={scores[8]:.4f}", "--param", "max_depth=8", "--tag", "team=demo")
    modelport("models", "versions", "cancer")

    console.rule("3. aliases: point @champion at one version, then move it")
    modelport("models", "alias", "set", "cancer@champion", "1")
    modelport("models", "alias", "set", "cancer@champion", "2")
    modelport("models", "show", "cancer@champion")

    console.rule("4. deploy two variants: 90% champion (ONNX), 10% version 1; capture every request")
    modelport("endpoints", "create", "cancer", "--variant", "a=cancer@champion:90", "--variant", "b=cancer:1:10", "--capture", "100")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    console.rule(f"5. start the server on {url}")
    console.print(f"[bold cyan]$ modelport server --port {port} &[/bold cyan]")
    server = subprocess.Popen([sys.executable, "-m", "modelport.cli.main", "server", "--port", str(port)], env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                eps = httpx.get(f"{url}/api/v1/endpoints", timeout=1).json()
                if eps and eps[0]["status"] == "in_service":
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("the server did not put the endpoint in service within 60 s")
        call(url, work)
        console.rule("7. shift traffic live (no restart) and look at the figures")
        remote = {**ENV, "MODELPORT_URL": url}
        modelport("endpoints", "update", "cancer", "--weights", "a=50,b=50", env=remote)
        for _ in range(20):
            httpx.post(f"{url}/endpoints/cancer/invocations", content=(work / "rows.csv").read_bytes(), headers={"Content-Type": "text/csv"})
        modelport("endpoints", "show", "cancer", env=remote)
    finally:
        server.terminate()
        server.wait(30)
    captured = sorted((HOME / "artifacts" / "capture" / "cancer").rglob("*.jsonl"))
    console.print(f"\ndata capture: {sum(len(p.read_text().splitlines()) for p in captured)} records in {len(captured)} files")
    console.print("\n[bold green]demo finished[/bold green] — state is in", HOME)


def call(url: str, work: Path) -> None:
    console.rule("6. call it: curl, boto3 (sagemaker-runtime), tritonclient (Open Inference Protocol v2)")
    rows = work / "rows.csv"
    cmd = ["curl", "-s", "-X", "POST", f"{url}/endpoints/cancer/invocations", "-H", "Content-Type: text/csv", "--data-binary", f"@{rows}"]
    console.print(f"[bold cyan]$ {shlex.join(cmd)}[/bold cyan]")
    if shutil.which("curl"):
        print(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    else:
        print(httpx.post(cmd[4], content=rows.read_bytes(), headers={"Content-Type": "text/csv"}).text)

    import boto3

    console.print('[bold cyan]>>> boto3.client("sagemaker-runtime", endpoint_url=URL).invoke_endpoint(EndpointName="cancer", ...)[/bold cyan]')
    runtime = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="demo", aws_secret_access_key="demo")
    resp = runtime.invoke_endpoint(EndpointName="cancer", Body=rows.read_bytes(), ContentType="text/csv",
                                   Accept="application/json", InferenceId="demo-0001")
    print(f"variant {resp['InvokedProductionVariant']}: {resp['Body'].read().decode()}")

    import numpy as np
    import pandas as pd
    import tritonclient.http as triton

    console.print('[bold cyan]>>> tritonclient.http.InferenceServerClient(URL).infer("cancer", inputs)[/bold cyan]')
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    meta = client.get_model_metadata("cancer")
    frame = pd.read_csv(rows, header=None)
    inputs = []
    for i, spec in enumerate(meta["inputs"]):
        inp = triton.InferInput(spec["name"], [len(frame)], spec["datatype"])
        inp.set_data_from_numpy(frame[i].to_numpy(np.float64 if spec["datatype"] == "FP64" else np.float32))
        inputs.append(inp)
    result = client.infer("cancer", inputs)
    print(json.dumps({"label": result.as_numpy("label").tolist(), "probabilities": result.as_numpy("probabilities").round(4).tolist()}))


if __name__ == "__main__":
    main()
