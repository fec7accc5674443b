"""The SDK's verbs, one abstract class per noun; local and remote implement them.

Both implementations raise the same :mod:`modelport.errors` classes with the
same messages: the remote one rebuilds them from the server's JSON body.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelport.domain import Alias, Model, ModelRef, ModelVersion, NewToken, Page, Token

if TYPE_CHECKING:
    from modelport.scoring import LoadedModel


class ModelsAPI(ABC):
    """``client.models``: the verbs of ``modelport models``."""

    #: what :meth:`load` passes to the runtime unless told otherwise (the Client sets it from its Settings)
    runtime_options: Mapping[str, Any] = {}

    @abstractmethod
    def register(
        self,
        path: str | Path,
        name: str,
        *,
        format: str | None = None,
        description: str = "",
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        signature: Mapping[str, Any] | None = None,
        sample: str | Path | None = None,
        to_onnx: bool = False,
        force: bool = False,
        atol: float = 1e-4,
        trust: bool = False,
    ) -> ModelVersion:
        """Register a model file as the next version of ``name``.

        ``sample`` (CSV, JSONL or Parquet) gives the signature its names and
        dtypes and the baseline its statistics; ``to_onnx`` converts and checks
        parity (refused beyond ``atol`` unless ``force``).  A pickle that would
        import code outside the libraries modelport serves is refused unless
        ``trust`` (over the API: a ``trust-code`` token).
        """

    @abstractmethod
    def list(
        self,
        *,
        limit: int = 100,
        page_token: str | None = None,
        name_contains: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Page[Model]:
        """One page of models, by name."""

    @abstractmethod
    def get(self, name: str) -> Model:
        """A model (not a version): description, tags, latest version, aliases."""

    @abstractmethod
    def show(self, ref: str) -> ModelVersion:
        """A version by ``name:N``, ``name@alias`` or ``name`` (latest)."""

    @abstractmethod
    def versions(
        self,
        name: str,
        *,
        limit: int = 100,
        page_token: str | None = None,
        format: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Page[ModelVersion]:
        """One page of a model's versions, newest first."""

    @abstractmethod
    def update(self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None) -> Model:
        """Change a model's description or tags (versions are immutable)."""

    @abstractmethod
    def delete(self, ref: str, *, force: bool = False) -> builtins.list[ModelVersion]:
        """Delete ``name:N`` (one version) or ``name`` (the model and all versions)."""

    @abstractmethod
    def set_alias(self, name: str, alias: str, version: int) -> Alias:
        """Point ``name@alias`` at a version (creating or moving the alias)."""

    @abstractmethod
    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias; the version stays."""

    @abstractmethod
    def download(self, ref: str, dest: str | Path, *, role: str = "model") -> Path:
        """Copy a version's file to ``dest`` (a file or folder), verified by sha256."""

    def load(self, ref: str, *, options: Mapping[str, Any] | None = None) -> LoadedModel:
        """Load a version for in-process scoring (its sha256-verified artifact, its runtime)."""
        from modelport.scoring import LoadedModel  # numpy and the runtimes: only when scoring

        mv = self.show(ref)
        return LoadedModel.from_path(mv, self._verified_path(mv), options, shared=self.runtime_options)

    @abstractmethod
    def _verified_path(self, mv: ModelVersion) -> Path:
        """A local, sha256-verified copy of the version's served file."""

    def iter_versions(self, name: str) -> Iterator[ModelVersion]:
        token: str | None = None
        while True:
            page = self.versions(name, limit=1000, page_token=token)
            yield from page.items
            if not page.next_page_token:
                return
            token = page.next_page_token

    @staticmethod
    def _delete_target(ref: str) -> ModelRef:
        from modelport.errors import InvalidArgument

        parsed = ModelRef.parse(ref)
        if parsed.alias is not None:
            raise InvalidArgument(
                f"cannot delete {ref!r}: delete takes NAME:VERSION or NAME; to remove an alias use "
                "`models alias delete`"
            )
        return parsed


class TokensAPI(ABC):
    """``client.tokens``: the verbs of ``modelport tokens``."""

    @abstractmethod
    def create(self, scope: str, name: str | None = None) -> NewToken:
        """Create a token; its secret is in the result and never shown again."""

    @abstractmethod
    def list(self) -> list[Token]:
        """Tokens (without secrets)."""

    @abstractmethod
    def revoke(self, token_id: str) -> None:
        """Delete a token; calls with it fail from then on."""
