"""Migrations: empty → head on both databases; a stale schema is refused with the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelport.db.database import Database
from modelport.errors import FailedPrecondition
from modelport.services import Services
from modelport.settings import Settings
from tests import infra


def test_upgrade_from_empty_to_head(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert db.current_revision() is None
        assert db.upgrade() == Database.head_revision()
        with db.read_engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
        assert {"models", "model_versions", "aliases", "tokens", "alembic_version"} <= tables
        assert db.upgrade() == Database.head_revision()  # idempotent
    finally:
        db.dispose()


def test_schema_head_is_the_newest_migration() -> None:
    """Opening a database compares with SCHEMA_HEAD without Alembic: it must be Alembic's head."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from modelport.db.database import MIGRATIONS, SCHEMA_HEAD

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_HEAD


@pytest.mark.slow  # two cold Python processes
def test_opening_a_database_does_not_import_alembic(tmp_path: Path) -> None:
    """Every CLI command opens the registry: Alembic (~0.15 s to import) is only for creating or upgrading it."""
    code = (
        "import sys; from modelport.services import Services; from modelport.settings import Settings; "
        f"Services.open(Settings(home={str(tmp_path)!r})).close(); print('alembic' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(infra.REPO / "src")}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env) for _ in range(2)]
    assert [r.stdout.strip() for r in runs] == ["True", "False"], runs[-1].stderr  # created, then only opened


def test_fresh_database_is_created_on_first_use(settings: Settings) -> None:
    svc = Services.open(settings)
    try:
        assert svc.db.current_revision() == Database.head_revision()
    finally:
        svc.close()


def test_stale_schema_is_refused_with_the_command(settings: Settings) -> None:
    db = Database(settings.resolved_database_url)
    db.upgrade("0001")
    db.dispose()
    with pytest.raises(
        FailedPrecondition, match=r"at revision 0001, this modelport needs .*run `modelport db upgrade`"
    ):
        Services.open(settings)


@pytest.mark.slow  # cold `modelport` processes
def test_server_refuses_to_start_on_stale_schema(sqlite_settings: Settings) -> None:
    db = Database(sqlite_settings.resolved_database_url)
    db.upgrade("0001")
    db.dispose()
    env = {"MODELPORT_HOME": str(sqlite_settings.home)}
    proc = subprocess.run(
        [*infra.modelport_cmd(), "server", "--port", str(infra.free_port())],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "run `modelport db upgrade`" in proc.stderr
    assert "Traceback" not in proc.stderr
    upgraded = subprocess.run(
        [*infra.modelport_cmd(), "db", "upgrade"], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"0001 → {Database.head_revision()}" in upgraded.stdout.replace("\n", "")
