"""Guarded rollouts: move a model endpoint's traffic to a new version step by step, watch both
versions during each bake, and return all traffic to the rule before the rollout by itself when
the new version breaks a limit.

The rollout is a row in the store and every move is a traffic-rule change through the model
endpoint's own path (validation, generation, event; the reconciler applies it: the local router
or, on Kubernetes, the VirtualService weights). :meth:`RolloutService.tick`, called by the
control plane's observer loop, decides each next move from the row alone, so a rollout goes on
after the kernel, the browser or the control plane itself went away (its bake clock is the
row's ``step_started_at``). After a restart the current step is kept, and its bake starts
again (:meth:`RolloutService.take_over`): the numbers it had been judged on were in the old
process's memory, and a step is only passed after a whole bake that was watched.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import select

from ..entities import EndpointStatus
from ..errors import Conflict, InvalidInput, MerlinError, NotFound
from ..observe_entities import Rollout
from ..store.db import Database
from ..store.models import ModelEndpointRow, RolloutRow, VersionEndpointRow, VersionRow, utcnow
from . import events, lookup
from . import rollout_rules as rules
from .metrics import MetricsService
from .model_endpoints import _describe, _rule

log = logging.getLogger("merlin_jupyter_server.rollouts")
ACTOR = "rollout"


def _unix(ts: datetime | None) -> float:
    return ts.replace(tzinfo=timezone.utc).timestamp() if ts else 0.0


class RolloutService:
    def __init__(self, db: Database, metrics: MetricsService, kick: Callable[[], None] = lambda: None):
        self.db, self.metrics, self.kick = db, metrics, kick
        self.booted: datetime | None = None  # when this process began to drive rollouts

    # -- API ------------------------------------------------------------------------------------
    def list(self, model_id: int, model_endpoint_id: int) -> list[Rollout]:
        with self.db.read() as session:
            lookup.model_endpoint(session, model_id, model_endpoint_id)
            rows = session.scalars(select(RolloutRow).where(RolloutRow.model_endpoint_id == model_endpoint_id)
                                   .order_by(RolloutRow.id.desc()).limit(50))
            return [row.to_entity() for row in rows]

    def get(self, model_id: int, model_endpoint_id: int, rollout_id: int) -> Rollout:
        with self.db.read() as session:
            return _row(session, model_id, model_endpoint_id, rollout_id).to_entity()

    def create(self, model_id: int, model_endpoint_id: int, body: dict[str, Any], actor: str) -> Rollout:
        allowed = {"version_endpoint_id", "version", "steps", "bake", "guard", "min_requests"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise InvalidInput(f"A rollout has no field {unknown[0]!r}: give {', '.join(sorted(allowed))}.",
                               field=unknown[0])
        steps, guard = rules.steps(body.get("steps")), rules.guard(body.get("guard"))
        bake, min_requests = rules.bake(body.get("bake")), rules.min_requests(body.get("min_requests"))
        self.metrics.model_endpoint_sources(model_id, model_endpoint_id)  # metrics it can be judged on
        with self.db.session() as session:
            me = lookup.model_endpoint(session, model_id, model_endpoint_id)
            session.refresh(me, with_for_update=True)
            active = session.scalar(select(RolloutRow).where(RolloutRow.model_endpoint_id == me.id,
                                                             RolloutRow.status.in_(rules.ACTIVE)))
            if active is not None:
                raise Conflict(f"Rollout {active.id} of version {active.new_version} is still {active.status} on "
                               f"this model endpoint: abort it first.", field="version")
            if me.status == EndpointStatus.TERMINATED.value or (me.rule or {}).get("stop"):
                raise Conflict("This model endpoint serves no traffic: route it to the current version "
                               "first (serve_traffic), then roll the new one out.")
            new = _new_endpoint(session, me, body)
            old_id = _old_endpoint(me, new.id)
            old = session.get(VersionEndpointRow, old_id)
            row = RolloutRow(model_id=model_id, model_endpoint_id=me.id, new_endpoint_id=new.id,
                             old_endpoint_id=old_id, new_version=new.version.number, old_version=old.version.number,
                             steps=steps, bake_seconds=bake, guard=guard, min_requests=min_requests,
                             previous_rule=dict(me.rule or {}), actor=actor, status="running", step_index=-1,
                             paused_seconds=0.0, generation=0)
            session.add(row)
            session.flush()
            limits = ", ".join(f"{k} ≤ {v:g}" for k, v in guard.items())
            events.record(session, actor, "rollout_started", "model_endpoint", me.id,
                          f"rollout {row.id}: version {row.new_version} replaces version {row.old_version} in steps "
                          f"{'/'.join(map(str, steps))} % with {bake:g} s bakes, guarded by {limits}",
                          me.model.project_id, model_id)
            return row.to_entity()

    def act(self, model_id: int, model_endpoint_id: int, rollout_id: int, action: str, actor: str) -> Rollout:
        if action not in rules.ACTIONS:
            raise NotFound(f"A rollout can be told {', '.join(rules.ACTIONS)}, not {action[:40]!r}.", field="action")
        with self.db.session() as session:
            row = _row(session, model_id, model_endpoint_id, rollout_id)
            if row.status not in rules.ACTIVE:
                raise Conflict(f"Rollout {row.id} is {row.status}: only a running or paused rollout can be "
                               f"told to {action}.", field="action")
            now = utcnow()
            if action == "pause" and row.status == "running":
                row.status, row.paused_at = "paused", now
                self._event(session, row, actor, "rollout_paused", f"paused at {row_weight(row)} % (its guard "
                            "still watches)")
            elif action == "resume" and row.status == "paused":
                row.paused_seconds += (now - row.paused_at).total_seconds() if row.paused_at else 0.0
                row.status, row.paused_at = "running", None
                self._event(session, row, actor, "rollout_resumed", f"resumed at {row_weight(row)} %")
            elif action == "abort":
                self._restore(session, row, actor, "aborted", "rollout_aborted",
                              f"aborted by {actor}: traffic is back on the rule before the rollout")
            rollout = row.to_entity()
        self.kick()
        return rollout

    # -- the driver -----------------------------------------------------------------------------
    async def tick(self) -> None:
        """One look at every active rollout: apply its first step, judge its guard, move on."""
        active = await asyncio.to_thread(self._active)
        for rollout in active:
            try:
                await self._drive(rollout)
            except Exception:  # noqa: BLE001 - one rollout's trouble must not stop the others
                log.exception("driving rollout %s failed; will retry", rollout.id)

    def _active(self) -> list[Rollout]:
        with self.db.read() as session:
            return [r.to_entity() for r in session.scalars(select(RolloutRow).where(RolloutRow.status.in_(rules.ACTIVE)))]

    async def _drive(self, rollout: Rollout) -> None:
        if rollout.step_index < 0:
            await asyncio.to_thread(self._advance, rollout.id, 0)
            return
        now = datetime.now(timezone.utc).timestamp()
        started = _unix(rollout.step_started_at)
        new, old = await asyncio.to_thread(self._sources, rollout)
        found = rules.breach(rollout.guard, await self.metrics.window(new, started),
                             await self.metrics.window(old, started) if old else None, rollout.min_requests)
        if found is not None:
            message = rules.describe_breach(found, rollout.new_version, rollout.old_version, now - started)
            await asyncio.to_thread(self._roll_back, rollout.id, message)
            return
        baked = now - started - rollout.paused_seconds
        if rollout.status == "running" and baked >= rollout.bake_seconds:
            await asyncio.to_thread(self._advance, rollout.id, rollout.step_index + 1)

    async def take_over(self) -> None:
        """The observer's first job, once: only the replica that observes (the leader) drives
        rollouts, so a rollout step begun before it did was an earlier process's."""
        if self.booted is None:
            began = utcnow()
            await asyncio.to_thread(self._recover, began)
            self.booted = began  # only once it worked: a failed pass is tried again next time

    def _recover(self, began: datetime) -> None:
        """Take over the rollouts an earlier control plane left mid-step (killed or stopped).

        The traffic stays on the step's rule (it is in the store, and the reconciler applies it
        again), but the bake starts anew: its numbers so far were in the old process's memory,
        and going on at once after a long outage would pass a step nobody watched."""
        with self.db.session() as session:
            rows = session.scalars(select(RolloutRow).where(RolloutRow.status.in_(rules.ACTIVE),
                                                            RolloutRow.step_index >= 0)
                                   .with_for_update()).all()
            now = utcnow()
            for row in rows:
                if row.step_started_at is None or row.step_started_at >= began:
                    continue
                was = (now - row.step_started_at).total_seconds() - row.paused_seconds - (
                    (now - row.paused_at).total_seconds() if row.paused_at else 0.0)
                row.step_started_at, row.paused_seconds = now, 0.0
                if row.status == "paused":
                    row.paused_at = now
                step = f"step {row.step_index + 1} of {len(row.steps)}"
                row.message = (f"{step}: version {row.new_version} gets {row_weight(row)} % (taken over after "
                               "a control-plane restart; the bake starts again)")
                self._event(session, row, ACTOR, "rollout_recovered",
                            f"the control plane restarted during {step} ({row_weight(row)} % to version "
                            f"{row.new_version}, {max(was, 0.0):.1f} s of its {row.bake_seconds:g} s bake "
                            f"done): the step stays {row.status} and its bake starts again, watched from now")
        self.kick()

    def _sources(self, rollout: Rollout):
        sources = {s.endpoint_id: s for s in self.metrics.model_endpoint_sources(rollout.model_id,
                                                                                 rollout.model_endpoint_id)}
        return sources.get(rollout.new_endpoint_id), sources.get(rollout.old_endpoint_id)

    def _advance(self, rollout_id: int, index: int) -> None:
        with self.db.session() as session:
            row = session.get(RolloutRow, rollout_id, with_for_update=True)
            if row is None or row.status != "running":
                return
            me = session.get(ModelEndpointRow, row.model_endpoint_id, with_for_update=True)
            if row.step_index >= 0 and me.generation != row.generation:
                row.status = "aborted"
                row.message = ("The traffic rule was changed by someone else during the rollout; it stops "
                               "here and leaves that rule in place.")
                self._event(session, row, ACTOR, "rollout_aborted", row.message)
                return
            if index >= len(row.steps):
                row.status, row.message = "completed", f"version {row.new_version} serves {row.steps[-1]} %"
                self._event(session, row, ACTOR, "rollout_completed", f"completed: {row.message}")
                return
            weight = row.steps[index]
            try:
                self._set_rule(session, row, me, rules.step_rule(row.previous_rule, row.old_endpoint_id,
                                                                 row.new_endpoint_id, weight))
            except MerlinError as exc:
                row.status, row.message = "aborted", f"Step {weight} % could not be applied: {exc.message}"
                self._event(session, row, ACTOR, "rollout_aborted", row.message)
                return
            row.step_index, row.step_started_at, row.paused_seconds = index, utcnow(), 0.0
            row.message = f"step {index + 1} of {len(row.steps)}: version {row.new_version} gets {weight} %"
            self._event(session, row, ACTOR, "rollout_step", row.message)
        self.kick()

    def _roll_back(self, rollout_id: int, why: str) -> None:
        with self.db.session() as session:
            row = session.get(RolloutRow, rollout_id, with_for_update=True)
            if row is None or row.status not in rules.ACTIVE:
                return
            self._restore(session, row, ACTOR, "rolled_back", "rollout_rolled_back",
                          f"rolled back: {why}. All traffic is back on the rule before the rollout.")
        self.kick()

    def _restore(self, session, row: RolloutRow, actor: str, status: str, action: str, message: str) -> None:
        me = session.get(ModelEndpointRow, row.model_endpoint_id, with_for_update=True)
        if row.step_index >= 0 and me.generation == row.generation:
            try:
                self._set_rule(session, row, me, row.previous_rule)
            except MerlinError:  # the earlier rule names an endpoint gone meanwhile: all to the old one
                self._set_rule(session, row, me, {"destinations": [
                    {"version_endpoint_id": row.old_endpoint_id, "weight": 100}]})
        row.status, row.message = status, message
        self._event(session, row, actor, action, message)

    def _set_rule(self, session, row: RolloutRow, me: ModelEndpointRow, rule: dict[str, Any]) -> None:
        me.rule = _rule(session, me.model_id, me.environment_name, rule)
        me.generation += 1
        row.generation = me.generation
        events.record(session, f"{ACTOR} {row.id}", "update_traffic", "model_endpoint", me.id,
                      f"routing {me.model.name} in {me.environment_name}: {_describe(me.rule)}",
                      me.model.project_id, me.model_id)

    @staticmethod
    def _event(session, row: RolloutRow, actor: str, action: str, message: str) -> None:
        me = session.get(ModelEndpointRow, row.model_endpoint_id)
        events.record(session, actor, action, "model_endpoint", row.model_endpoint_id,
                      f"rollout {row.id}: {message}", me.model.project_id if me else None, row.model_id)


def row_weight(row: RolloutRow) -> int:
    return row.steps[row.step_index] if 0 <= row.step_index < len(row.steps) else 0


def _row(session, model_id: int, model_endpoint_id: int, rollout_id: int) -> RolloutRow:
    lookup.model_endpoint(session, model_id, model_endpoint_id)
    row = session.get(RolloutRow, rollout_id)
    if row is None or row.model_endpoint_id != model_endpoint_id:
        raise NotFound(f"Model endpoint {model_endpoint_id} has no rollout {rollout_id}: list them with "
                       f"GET /models/{model_id}/endpoints/{model_endpoint_id}/rollouts.")
    return row


def _new_endpoint(session, me: ModelEndpointRow, body: dict[str, Any]) -> VersionEndpointRow:
    endpoint_id, number = body.get("version_endpoint_id"), body.get("version")
    if endpoint_id is not None:
        row = session.get(VersionEndpointRow, str(endpoint_id))
        if row is None or row.version.model_id != me.model_id:
            raise NotFound(f"Version endpoint {str(endpoint_id)[:40]} is not an endpoint of this model.",
                           field="version_endpoint_id")
        return row
    number = rules.whole(number)
    if number is None or number < 1:
        raise InvalidInput("Name the version to roll out: version (its number) or version_endpoint_id.",
                           field="version")
    version = session.scalar(select(VersionRow).where(VersionRow.model_id == me.model_id, VersionRow.number == number))
    if version is None:
        raise NotFound(f"Model {me.model.name!r} has no version {number}.", field="version")
    live = [e for e in version.endpoints if e.environment_name == me.environment_name
            and e.status in (EndpointStatus.RUNNING.value, EndpointStatus.SERVING.value)]
    if not live:
        raise Conflict(f"Version {number} has no running endpoint in {me.environment_name!r}: deploy it first, "
                       "then roll it out.", field="version")
    return live[0]


def _old_endpoint(me: ModelEndpointRow, new_id: str) -> str:
    others = [d for d in (me.rule or {}).get("destinations", []) if d["version_endpoint_id"] != new_id]
    if not others:
        raise Conflict("That version already takes all of this model endpoint's traffic: there is nothing "
                       "to roll out from.", field="version")
    return max(others, key=lambda d: d["weight"])["version_endpoint_id"]
