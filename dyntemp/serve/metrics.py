"""``GET /metrics`` in Prometheus' text format (prometheus-client): requests by route and status,
tokens, queue length, busy slots and seconds per generated token. Each app has its own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """The server's metrics; ``text()`` is what ``/metrics`` returns."""

    def __init__(self, models) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("dyntemp_requests", "HTTP requests answered", ["route", "status"],
                                registry=self.registry)
        self.prompt_tokens = Counter("dyntemp_prompt_tokens", "prompt tokens evaluated", registry=self.registry)
        self.completion_tokens = Counter("dyntemp_completion_tokens", "tokens generated", registry=self.registry)
        self.seconds_per_token = Histogram(
            "dyntemp_seconds_per_token", "a request's time on its slot divided by the tokens it generated",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0), registry=self.registry)
        queue = Gauge("dyntemp_queue_length", "requests waiting for a slot", ["model"], registry=self.registry)
        busy = Gauge("dyntemp_busy_slots", "slots generating", ["model"], registry=self.registry)
        slots = Gauge("dyntemp_slots", "slots", ["model"], registry=self.registry)
        for name, model in models.items():
            queue.labels(name).set_function(lambda m=model: m.waiting)
            busy.labels(name).set_function(lambda m=model: m.busy)
            slots.labels(name).set(len(model.slots))

    def generated(self, prompt_tokens: int, completion_tokens: int, seconds: float) -> None:
        self.prompt_tokens.inc(prompt_tokens)
        self.completion_tokens.inc(completion_tokens)
        if completion_tokens:
            self.seconds_per_token.observe(seconds / completion_tokens)

    def text(self) -> bytes:
        return generate_latest(self.registry)
