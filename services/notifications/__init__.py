"""Notifications: webhook subscriptions and the worker that delivers the outbox
(`services.outbox` writes the events). `subscriptions`: the API's operations;
`urls`: which receivers are allowed; `worker`: fan-out, delivery, retries and the
scheduled events; `metrics`: the worker's Prometheus metrics."""
