"""The CLI as a user drives it: tables, --json, one-line errors and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from modelport.cli.main import app
from modelport.db import SCHEMA_HEAD
from modelport.db.database import Database
from tests import infra


def test_register_show_list_versions_alias_delete(cli, model_file: Path, other_model_file: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("models", "register", str(model_file), "--name", "churn", "--metric", "auc=0.91",
                       "--param", "max_depth=8", "--tag", "team=risk")
    assert code == 0 and "Registered churn:1 (sklearn" in out
    assert cli("models", "register", str(other_model_file), "--name", "churn")[0] == 0

    code, out, _ = cli("models", "show", "churn:1", "--json")
    shown = json.loads(out)
    assert shown["metrics"] == {"auc": 0.91} and shown["params"] == {"max_depth": "8"} and shown["tags"] == {"team": "risk"}
    assert json.loads(cli("models", "show", "churn", "--json")[1])["version"] == 2

    code, out, _ = cli("models", "alias", "set", "churn@champion", "2")
    assert code == 0 and "churn@champion → churn:2" in out
    assert json.loads(cli("models", "show", "churn@champion", "--json")[1])["version"] == 2

    code, out, _ = cli("models", "list")
    assert code == 0 and "churn" in out and "@champion→2" in out
    listed = json.loads(cli("models", "list", "--json")[1])
    assert [m["name"] for m in listed["items"]] == ["churn"] and listed["items"][0]["latest_version"] == 2

    code, out, _ = cli("models", "versions", "churn", "--json")
    assert [v["version"] for v in json.loads(out)["items"]] == [2, 1]
    code, out, _ = cli("models", "versions", "churn")
    assert "Versions of churn" in out and "@champion" in out

    code, _, err = cli("models", "delete", "churn:2")
    assert code == 1
    assert err.strip() == (
        "error: model version churn:2 is the target of churn@champion; move the alias first or use --force"
    )
    assert cli("models", "delete", "churn:1")[0] == 0
    code, out, _ = cli("models", "delete", "churn:2", "--force")
    assert code == 0 and "Deleted churn:2" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("models", "show", "ghost"), "error: model 'ghost' does not exist"),
        (("models", "show", "ghost:x"), "error: invalid model reference 'ghost:x': the version after ':' must be a positive integer"),
        (("models", "register", "/no/such.joblib", "--name", "m"), "error: model file '/no/such.joblib' does not exist or is not a file"),
        (("models", "register", "MODEL", "--name", "bad name"), "error: invalid model name 'bad name'"),
        (("models", "register", "MODEL", "--name", "m", "--metric", "auc=high"), "error: invalid --metric auc='high': the value must be a number"),
        (("models", "register", "MODEL", "--name", "m", "--tag", "novalue"), "error: invalid --tag 'novalue': expected KEY=VALUE"),
        (("models", "alias", "set", "m", "1"), "error: expected NAME@ALIAS, got 'm'"),
        (("tokens", "create", "--scope", "god"), "error: invalid scope 'god': expected one of admin, invoke, read"),
    ],
)
def test_user_errors_are_one_line_exit_1(cli, model_file: Path, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    args = tuple(str(model_file) if a == "MODEL" else a for a in args)
    code, _out, err = cli(*args)
    assert code == 1
    assert err.startswith(message)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_usage_errors_exit_2(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("models", "list", "--bogus")
    assert code == 2 and "No such option" in err
    assert cli("models", "show", home_opt=False)[0] == 2


def test_group_help_and_mistyped_subcommands_see_the_whole_group(cli) -> None:  # type: ignore[no-untyped-def]
    """Only the subcommand that runs is built; help and usage errors still list every one."""
    for args in (("models", "--help"), ("models", "--help", "list")):
        code, out, _ = cli(*args, home_opt=False)
        assert code == 0 and all(name in out for name in ("register", "list", "show", "versions", "alias")), args
    code, _, err = cli("models", "lsit", home_opt=False)
    assert code == 2 and "No such command 'lsit'" in err
    code, out, _ = cli("models", "list", "--help", home_opt=False)
    assert code == 0 and "--name-contains" in out and "register" not in out


def test_every_command_accepts_home() -> None:
    root = typer.main.get_command(app)
    missing = []

    def walk(cmd, path: str) -> None:  # type: ignore[no-untyped-def]
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
            for name, sub in cmd.commands.items():
                walk(sub, f"{path} {name}")
        elif "--home" not in {opt for p in cmd.params for opt in getattr(p, "opts", [])}:
            missing.append(path)

    walk(root, "modelport")
    assert missing == []


def test_token_secret_goes_to_stdout_alone(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("tokens", "create", "--scope", "read", "--name", "ci")
    assert code == 0 and out.strip().startswith("mp_") and len(out.strip().split()) == 1
    assert "Store it now" in err
    code, out, _ = cli("tokens", "list", "--json")
    listed = json.loads(out)
    assert [t["name"] for t in listed] == ["ci"] and "secret" not in listed[0]


@pytest.mark.slow  # three cold `modelport` processes
def test_console_script_exit_codes(home: Path) -> None:
    env = {**os.environ, "MODELPORT_HOME": str(home)}
    ok = subprocess.run([*infra.modelport_cmd(), "models", "list", "--json"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["items"] == []
    bad = subprocess.run([*infra.modelport_cmd(), "models", "show", "x"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr == "error: model 'x' does not exist\n"
    usage = subprocess.run([*infra.modelport_cmd(), "models", "nope"], env=env, capture_output=True, text=True)
    assert usage.returncode == 2


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MODELPORT_RUNTIME_THREADS", "abc", "error: MODELPORT_RUNTIME_THREADS='abc': Input should be a valid integer"),
        ("MODELPORT_NATIVE_TREES", "sometimes", "error: MODELPORT_NATIVE_TREES='sometimes': Input should be a valid boolean"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    cli, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(variable, value)
    code, out, err = cli("models", "list")
    assert code == 1 and out == ""
    assert err.startswith(message) and err.count("\n") == 1, err


#: what the everyday read commands must not import: the ML stack, the web stack, the ORM,
#: migrations, remote filesystems, and the commands they do not run
HEAVY_MODULES = (
    "numpy", "pandas", "pyarrow", "sklearn", "onnxruntime", "torch", "xgboost", "lightgbm",
    "fastapi", "starlette", "granian", "httpx", "sqlalchemy.orm", "alembic", "fsspec", "dask",
    "rich.progress", "modelport.cli.batch", "modelport.cli.scoring", "modelport.serving",
)
#: the reads that take a SQLite home without SQLAlchemy at all (modelport/db/sqlite_reads.py)
STDLIB_READS = (("models", "list"), ("models", "show", "churn@champion"), ("endpoints", "list"), ("tokens", "list"))
READ_COMMANDS = (*STDLIB_READS, ("monitors", "list"), ("experiments", "list"), ("tune", "list"))


def test_read_commands_import_only_what_they_use(cli, home: Path, model_file: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`models list` and friends start in a fraction of a second because they import none of the heavy stacks."""
    for step in (
        ("models", "register", str(model_file), "--name", "churn"),
        ("models", "alias", "set", "churn@champion", "1"),
        ("endpoints", "create", "churn", "--variant", "a=churn:1"),
        ("tokens", "create", "--scope", "read", "--name", "ci"),
    ):
        assert cli(*step)[0] == 0, step
    seen: dict[str, list[str]] = {}
    outputs = ""
    # one process for the stdlib reads, one for the others (which import SQLAlchemy);
    # --json first in each: it prints no table, so it must not import rich either
    for commands in (STDLIB_READS, READ_COMMANDS[len(STDLIB_READS):]):
        report = tmp_path / "imported.json"
        runs = [(*argv, "--json") for argv in commands] + list(commands)
        script = f"""
import json, sys
from modelport.cli.main import main
seen = {{}}
for argv in {runs!r}:
    sys.argv = ["modelport", *argv, "--home", {str(home)!r}]
    try:
        main()
    except SystemExit as exc:
        assert not exc.code, (argv, exc.code)
    heavy = {HEAVY_MODULES!r} + (("rich",) if "--json" in argv else ())
    heavy += ("sqlalchemy",) if argv[:-1] in {STDLIB_READS!r} or argv in {STDLIB_READS!r} else ()
    seen[" ".join(argv)] = [m for m in heavy if m in sys.modules]
open({str(report)!r}, "w").write(json.dumps(seen))
"""
        env = {**os.environ, "PYTHONPATH": str(infra.REPO / "src")}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        seen.update(json.loads(report.read_text()))
        outputs += done.stdout
    assert "churn" in outputs and "ci" in outputs  # the commands did run
    assert seen == {" ".join(argv): [] for argv in [*((*a, "--json") for a in READ_COMMANDS), *READ_COMMANDS]}


def test_read_commands_create_a_missing_database_and_refuse_a_stale_one(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    """The reads that skip SQLAlchemy still create a new home's database, and name the fix for an old one."""
    code, out, _ = cli("models", "list", "--json")
    assert code == 0 and json.loads(out)["items"] == [] and (home / "modelport.db").is_file()
    for leftover in home.glob("modelport.db*"):  # a fresh database, made by an older modelport
        leftover.unlink()
    db = Database(f"sqlite:///{home / 'modelport.db'}")
    db.upgrade("0001")
    db.dispose()
    for argv in READ_COMMANDS:
        code, out, err = cli(*argv)
        assert (code, out) == (1, ""), argv
        assert err == (
            f"error: database schema of sqlite:///{home / 'modelport.db'} is at revision 0001, "
            f"this modelport needs {SCHEMA_HEAD}: run `modelport db upgrade`\n"
        ), argv
