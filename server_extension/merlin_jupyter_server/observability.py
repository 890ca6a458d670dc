"""Wires the metrics history, its scraper, guarded rollouts and alerts into the control plane."""
from __future__ import annotations

import asyncio
import os

from .observer import Observer
from .services.alerts import AlertService
from .services.metrics import MetricsService
from .services.metrics_history import MetricsHistory
from .services.metrics_scraper import MetricsScraper
from .services.rollouts import RolloutService


def wire(cp, settings) -> None:
    history = MetricsHistory(settings.metrics_retention, settings.metrics_interval)
    router_state = os.path.join(settings.state_dir, "router", "router.json")
    cp.metrics_history = history
    cp.scraper = MetricsScraper(cp.db, history, settings.host, [router_state])
    cp.metrics = MetricsService(cp.db, history)
    loop: list[asyncio.AbstractEventLoop] = []

    def kick() -> None:  # rollouts change rules in worker threads; the reconciler lives in the loop
        if loop:
            loop[0].call_soon_threadsafe(cp.reconciler.kick)

    async def remember_loop() -> None:
        if not loop:
            loop.append(asyncio.get_running_loop())

    cp.rollouts = RolloutService(cp.db, cp.metrics, kick)
    cp.alerts = AlertService(cp.db, cp.metrics)
    cp.observer = Observer([remember_loop, cp.rollouts.take_over, cp.scraper.scrape_once,
                            cp.rollouts.tick, cp.alerts.tick],
                           settings.metrics_interval)
