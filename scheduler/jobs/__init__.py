"""The planner jobs: each writes outbox rows (never calls Telegram) and can run on its schedule or at once; and
the daily housekeeping.

`schedule_jobs()` is the one place that puts them on APScheduler (PTB's JobQueue), so that a lease deciding which
replica plans can wrap exactly this.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from telegram.ext import Job, JobQueue

from scheduler.config import CareConfig
from scheduler.jobs import (
    agreements,
    autoclose,
    birthday,
    checkin,
    csat,
    escalation,
    freshness,
    holidays,
    housekeeping,
    nps,
    sla,
)
from scheduler.jobs.common import JobSpec
from storage.db import SessionFactory
from storage.types import utcnow

log = logging.getLogger(__name__)

JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        birthday.JOB,
        holidays.JOB,
        checkin.JOB,
        csat.JOB,
        nps.JOB,
        freshness.JOB,
        sla.JOB,
        escalation.JOB,
        autoclose.JOB,
        agreements.JOB,
        housekeeping.JOB,
    )
}


async def run_job(name: str, *, sessions: SessionFactory, config: CareConfig, now: datetime | None = None) -> int:
    """Run one planner now; returns how many rows it planned (or tickets it closed)."""
    spec = JOBS[name]
    count = await spec.plan(sessions, config, now or utcnow())
    log.info("job %s: %d planned", name, count)
    return count


def next_run(spec: JobSpec, config: CareConfig, now: datetime) -> datetime | None:
    moment: datetime | None = spec.trigger(config).get_next_fire_time(None, now)
    return moment


def schedule_jobs(job_queue: JobQueue[Any], *, sessions: SessionFactory, config: CareConfig) -> list[Job[Any]]:
    """Put every planner on its schedule (times in the business's time zone); returns the jobs."""
    jobs: list[Job[Any]] = []
    for spec in JOBS.values():

        async def callback(_context: Any, name: str = spec.name) -> None:
            await run_job(name, sessions=sessions, config=config)

        job = job_queue.run_custom(
            callback,
            name=spec.name,
            job_kwargs={
                "trigger": spec.trigger(config),
                "id": spec.name,
                "replace_existing": True,
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": 3600,
            },
        )
        jobs.append(job)
    return jobs
