"""What every server in the comparison provides: an install, a launch, a request, a label."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peers.process import Probe

APPS = Path(__file__).resolve().parent / "apps"


@dataclass(frozen=True)
class BenchModel:
    """The one model every server serves, and the one row every request carries."""

    joblib_path: Path
    sample_csv: Path
    sha256: str
    row: list[float]
    expected_label: int
    n_features: int


@dataclass(frozen=True)
class Launch:
    """How to start a server once (fresh ports each time) and the request that measures it."""

    cmd: list[str]
    env: Mapping[str, str]
    cwd: Path
    probe: Probe
    extra_ports: tuple[int, ...] = ()


@dataclass
class Peer(ABC):
    """A server under test. ``key`` names it on the command line, ``label`` in the tables."""

    key: str
    label: str
    workers: int = 1
    venv: Path | None = field(default=None, init=False)
    notes: list[str] = field(default_factory=list, init=False)

    @property
    def pins(self) -> list[str]:
        """Exact requirements of its venv (empty: it runs from the project venv)."""
        return []

    @property
    def venv_name(self) -> str:
        return self.key

    def prepare(self, model: BenchModel, workdir: Path) -> None:  # noqa: B027 - optional hook
        """One-time files (model copies, settings) under ``workdir``, after the venv exists."""

    @abstractmethod
    def launch(self, model: BenchModel, workdir: Path) -> Launch: ...

    @abstractmethod
    def label_from(self, body: bytes) -> Any:
        """The predicted label in this server's reply (to check that all serve the same model)."""

    def versions(self) -> str:
        return ", ".join(self.pins)
