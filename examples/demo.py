"""`make demo`: the main job end to end, as a user would type it.

Trains a real scikit-learn model, registers it twice, lists the versions,
moves an alias — each step a `modelport` command, printed before it runs.
State goes to ./.demo-home (wiped first), so the demo can be rerun.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / ".demo-home"
console = Console()


def modelport(*args: str) -> str:
    console.print(f"\n[bold cyan]$ modelport {shlex.join(args)}[/bold cyan]")
    proc = subprocess.run(
        [sys.executable, "-m", "modelport.cli.main", *args],
        env={**os.environ, "MODELPORT_HOME": str(HOME), "COLUMNS": "120"},
        capture_output=True,
        text=True,
    )
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"demo step failed with exit code {proc.returncode}")
    return proc.stdout


def train(path: Path, depth: int) -> float:
    import joblib
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    model = RandomForestClassifier(n_estimators=50, max_depth=depth, random_state=0).fit(x_train, y_train)
    joblib.dump(model, path)
    return float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))


def main() -> None:
    shutil.rmtree(HOME, ignore_errors=True)
    work = HOME / "work"
    work.mkdir(parents=True)
    console.rule("1. train two candidate models (breast cancer data shipped with scikit-learn)")
    scores = {}
    for depth in (3, 8):
        path = work / f"rf-depth{depth}.joblib"
        scores[depth] = train(path, depth)
        console.print(f"trained {path.name}: test AUC {scores[depth]:.4f}")

    console.rule("2. register both as versions of one model")
    for depth in (3, 8):
        modelport(
            "models", "register", str(work / f"rf-depth{depth}.joblib"), "--name", "cancer",
            "--metric", f"auc={scores[depth]:.4f}", "--param", f"max_depth={depth}", "--tag", "team=demo",
        )
    modelport("models", "versions", "cancer")

    console.rule("3. point @champion at the better one, then move it")
    best = 1 if scores[3] >= scores[8] else 2
    modelport("models", "alias", "set", "cancer@champion", str(best))
    modelport("models", "alias", "set", "cancer@champion", str(3 - best))
    modelport("models", "show", "cancer@champion")
    modelport("models", "list")
    console.print("\n[bold green]demo finished[/bold green] — state is in", HOME)


if __name__ == "__main__":
    main()
