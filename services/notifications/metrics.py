"""The worker's Prometheus metrics (`huimin worker --metrics-port`): deliveries by
status (pending, delivered, failed, read from the database), attempts by outcome,
the latency from an event's write to its delivery, and each attempt's duration."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600,
                   24 * 3600)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Gauge("huimin_webhook_deliveries", "Webhook deliveries by status",
                                ["status"], registry=self.registry)
        self.attempts = Counter("huimin_webhook_attempts_total",
                                "Delivery attempts by outcome (delivered, retry, failed)",
                                ["outcome"], registry=self.registry)
        self.latency = Histogram("huimin_webhook_delivery_latency_seconds",
                                 "From the event's write to its delivery",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.attempt_seconds = Histogram("huimin_webhook_attempt_seconds",
                                         "Duration of one delivery attempt",
                                         registry=self.registry)
        self.scheduled = Counter("huimin_scheduled_events_total",
                                 "Scheduled events written (reminders, expiries)",
                                 registry=self.registry)

    def set_counts(self, counts: dict[str, int]) -> None:
        for status in ("pending", "delivered", "failed"):
            self.deliveries.labels(status=status).set(counts.get(status, 0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
