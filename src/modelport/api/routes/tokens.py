"""/api/v1/tokens: create (shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from modelport.api.auth import Principal, require
from modelport.api.bodies import RequestBody, StrictJSONRoute
from modelport.api.routes.models import Svc
from modelport.domain import NewToken, Token

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
    svc.tokens.revoke(token_id)
