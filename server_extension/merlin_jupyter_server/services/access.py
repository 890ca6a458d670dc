"""Merlin's project membership: who may read and who may change a project, in one place.

A project's ``administrators`` change everything in it, its members included; its ``readers``
list and read everything and call predictions through the proxy, but create, deploy,
undeploy and route nothing. A non-member does not see the project in lists and is refused
direct access. Hub admins manage environments, and administer a project that has no
administrators (one created before team mode). In single-user mode every check passes: the
one person administers everything.
"""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import select

from ..entities import Project
from ..errors import Forbidden, InvalidInput
from ..identity import Caller
from ..store.db import Database
from ..store.models import ModelRow, ProjectRow, VersionEndpointRow, VersionRow
from . import lookup

READER, ADMINISTRATOR = "reader", "administrator"


def role_in(caller: Caller, administrators: Iterable[str], readers: Iterable[str]) -> str | None:
    """The caller's role in a project with these members: administrator, reader or None."""
    administrators = list(administrators or [])
    if caller.unrestricted or caller.name in administrators or (caller.hub_admin and not administrators):
        return ADMINISTRATOR
    if caller.name in (readers or []):
        return READER
    return None


def _allows(role: str | None, needed: str) -> bool:
    return role == ADMINISTRATOR or (role == READER and needed == READER)


def refusal(caller: Caller, project: str, administrators: list[str], role: str | None,
            needed: str, doing: str) -> Forbidden:
    admins = ", ".join(administrators) if administrators else "none yet; a hub admin can act for it"
    you_are = f"a {role}" if role else "not a member"
    join = "administrators" if needed == ADMINISTRATOR else "readers (or administrators)"
    return Forbidden(
        f"You ({caller.name}) cannot {doing} in project {project!r}: that needs the {needed} "
        f"role, and you are {you_are}. Ask one of its administrators ({admins}) to add you to "
        f"its {join}."
    )


class AccessService:
    def __init__(self, db: Database):
        self.db = db

    def _check(self, caller: Caller, row: ProjectRow, needed: str, doing: str) -> None:
        role = role_in(caller, row.administrators, row.readers)
        if not _allows(role, needed):
            raise refusal(caller, row.name, list(row.administrators or []), role, needed, doing)

    # -- checks by what the request names ----------------------------------------------------
    def project(self, caller: Caller, project_id: int, needed: str, doing: str) -> None:
        if caller.unrestricted:
            return
        with self.db.read() as session:
            self._check(caller, lookup.project(session, project_id), needed, doing)

    def model(self, caller: Caller, model_id: int, needed: str, doing: str) -> None:
        if caller.unrestricted:
            return
        with self.db.read() as session:
            self._check(caller, lookup.model(session, model_id).project, needed, doing)

    def model_by_name(self, caller: Caller, names: tuple[str, str], needed: str, doing: str) -> None:
        """``names``: (project name, model name), as the model proxy's path has them."""
        if caller.unrestricted:
            return
        project = names[0]
        with self.db.read() as session:
            row = session.scalar(select(ProjectRow).where(ProjectRow.name == project))
            if row is not None:  # an unknown project answers as the proxy always did (404)
                self._check(caller, row, needed, doing)

    def endpoint(self, caller: Caller, endpoint_id: str, needed: str, doing: str) -> None:
        if caller.unrestricted:
            return
        with self.db.read() as session:
            row = session.scalar(
                select(ProjectRow).join(ModelRow).join(VersionRow).join(VersionEndpointRow)
                .where(VersionEndpointRow.id == str(endpoint_id))
            )
            if row is not None:  # an unknown endpoint answers 404 from its own lookup
                self._check(caller, row, needed, doing)

    def environments(self, caller: Caller, doing: str) -> None:
        if caller.unrestricted or caller.hub_admin:
            return
        raise Forbidden(
            f"You ({caller.name}) cannot {doing}: environments are managed by the hub's admins. "
            "Ask one of them to add it (MerlinApp.environments or POST /environments)."
        )

    # -- lists and writes of projects -------------------------------------------------------
    def visible(self, caller: Caller, projects: list[Project]) -> list[Project]:
        """The projects the caller is a member of (all of them in single-user mode)."""
        return [p for p in projects if role_in(caller, p.administrators, p.readers)]

    def visible_project_ids(self, caller: Caller) -> set[int] | None:
        """Ids of the projects whose events the caller may read; None: every project."""
        if caller.unrestricted:
            return None
        with self.db.read() as session:
            rows = session.execute(select(ProjectRow.id, ProjectRow.administrators, ProjectRow.readers))
            return {pid for pid, admins, readers in rows if role_in(caller, admins, readers)}

    def new_project(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        """A create's body with its creator among the administrators (team mode)."""
        if caller.unrestricted:
            return body
        administrators = body.get("administrators")
        administrators = list(administrators) if isinstance(administrators, list) else []
        if caller.name not in administrators:
            administrators.insert(0, caller.name)
        return {**body, "administrators": administrators}

    def project_update(self, caller: Caller, project_id: int, body: dict[str, Any]) -> None:
        """Only administrators change a project; the change must leave it one."""
        self.project(caller, project_id, ADMINISTRATOR, "change its settings or members")
        if caller.team and body.get("administrators") is not None and not body["administrators"]:
            raise InvalidInput(
                "A project needs at least one administrator: keep yourself (or another person) "
                "in administrators.",
                field="administrators",
            )
