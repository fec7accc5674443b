"""/api/v1/tokens: create (shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from modelport.api.auth import Principal, require
from modelport.api.bodies import RequestBody, StrictJSONRoute
from modelport.api.routes.models import Svc
from modelport.auth import GRANTS
from modelport.domain import NewToken, Token
from modelport.errors import FailedPrecondition

router = APIRouter(prefix="/tokens", tags=["tokens"], route_class=StrictJSONRoute)
Admin = Annotated[Principal, Depends(require("admin"))]


class CreateToken(RequestBody):
    scope: str
    name: str | None = None


@router.post("", response_model=NewToken, status_code=201)
def create_token(body: CreateToken, svc: Svc, _: Admin) -> NewToken:
    return svc.tokens.create(body.scope, body.name)


@router.get("", response_model=list[Token])
def list_tokens(svc: Svc, _: Admin) -> list[Token]:
    return svc.tokens.list()


@router.delete("/{token_id}", status_code=204)
def revoke_token(token_id: str, svc: Svc, _: Admin) -> None:
    """Revoke a token; the last one that can administer the server is kept.

    Without it nobody could call the admin API again, and with ``MODELPORT_AUTH=auto``
    a server left with no token at all is open to everyone.  (Two concurrent revokes
    can still race past this check; the CLI on the server's host can always revoke.)
    """
    tokens = svc.tokens.list()
    target = next((t for t in tokens if t.id == token_id), None)
    admins = [t for t in tokens if t.scope in GRANTS["admin"]]
    if target is not None and admins == [target]:
        raise FailedPrecondition(
            f"token {target.name!r} is the last token with admin rights: create another admin token before revoking it "
            "(or run `modelport tokens revoke` on the server's host)"
        )
    svc.tokens.revoke(token_id)
