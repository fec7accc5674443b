"""Settings read from MODELPORT_* variables exactly as pydantic-settings' BaseSettings read them."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.errors import InvalidArgument
from modelport.settings import Settings


def test_variables_fill_the_fields_they_name_in_any_case(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELPORT_HOME", str(tmp_path))
    monkeypatch.setenv("modelport_runtime_threads", "3")
    monkeypatch.setenv("MODELPORT_Native_Trees", "off")
    monkeypatch.setenv("MODELPORT_TOKEN", "mp_secret")
    monkeypatch.setenv("MODELPORT_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("MODELPORT_NOT_A_SETTING", "ignored")
    monkeypatch.setenv("RUNTIME_THREADS", "9")  # no prefix: not ours
    s = Settings()
    assert (s.home, s.runtime_threads, s.native_trees, s.log_level) == (tmp_path, 3, False, "debug")
    assert s.token is not None and s.token.get_secret_value() == "mp_secret" and "mp_secret" not in repr(s)
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'modelport.db'}"


def test_arguments_win_over_variables_and_defaults_are_validated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODELPORT_HOME", "/elsewhere")
    monkeypatch.setenv("MODELPORT_URL", "http://from-env:8080")
    assert Settings(home=tmp_path).home == tmp_path
    assert Settings.from_env(home=None).home == Path("/elsewhere")  # None: no override
    assert Settings(url=None).url is None  # an explicit None is a value
    monkeypatch.delenv("MODELPORT_HOME")
    assert Settings().home == Path("~/.modelport").expanduser()  # the default goes through the validator too
    moved = Settings().with_overrides(home=tmp_path, token="t")
    assert (moved.home, moved.url, moved.token and moved.token.get_secret_value()) == (
        tmp_path,
        "http://from-env:8080",
        "t",
    )


def test_an_empty_variable_is_an_empty_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPORT_URL", "")
    monkeypatch.setenv("MODELPORT_DATABASE_URL", "")
    s = Settings()
    assert s.url == "" and not s.is_remote and s.resolved_database_url.startswith("sqlite:///")
    monkeypatch.setenv("MODELPORT_SYNC_INTERVAL_S", "")
    with pytest.raises(InvalidArgument, match=r"^MODELPORT_SYNC_INTERVAL_S='': Input should be a valid number"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MODELPORT_AUTH", "sometimes", "MODELPORT_AUTH='sometimes': Input should be 'auto', 'required' or 'off'"),
        ("MODELPORT_HEADER_READ_TIMEOUT_S", "0", "MODELPORT_HEADER_READ_TIMEOUT_S='0': Input should be greater than 0"),
        ("MODELPORT_LOG_LEVEL", "loud", "MODELPORT_LOG_LEVEL='loud': Input should be"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidArgument) as raised:
        Settings.from_env()
    assert raised.value.message.startswith(message) and "\n" not in raised.value.message


def test_to_env_rebuilds_the_same_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = Settings(home=tmp_path, token="mp_x", runtime_threads=2, native_trees=False, metrics_dir=tmp_path / "m")
    for key, value in s.to_env().items():
        monkeypatch.setenv(key, value)
    assert Settings() == s
