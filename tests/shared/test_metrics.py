"""HttpMetrics exports exactly what prometheus_client's Counter and Histogram would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from nfhub_shared.middleware import HttpMetrics

OBSERVATIONS = [
    ("GET", "/api/v1/files", "200", 0.0004),
    ("GET", "/api/v1/files", "200", 0.005),  # on a bucket bound: counted in that bucket
    ("GET", "/api/v1/files", "404", 0.3),
    ("POST", "/api/v1/files/upload-url", "201", 1.0),
    ("GET", "/api/v1/files", "500", 12.0),  # past the last bound: +Inf only
]


def samples(registry: CollectorRegistry) -> list[str]:
    """The exposition's lines, sorted (series order carries no meaning), without the _created
    lines (their timestamps differ by nature)."""
    text = generate_latest(registry).decode()
    return sorted(line for line in text.splitlines() if "_created" not in line)


def test_the_exposition_matches_prometheus_clients_own_metrics() -> None:
    ours = CollectorRegistry()
    metrics = HttpMetrics(ours)
    reference = CollectorRegistry()
    requests = Counter(
        "http_requests_total",
        "HTTP requests by route template, method and status",
        ["method", "route", "status"],
        registry=reference,
    )
    latency = Histogram(
        "http_request_duration_seconds",
        "HTTP request latency by route template",
        ["method", "route"],
        registry=reference,
    )
    for method, route, status, seconds in OBSERVATIONS:
        metrics.observe(method, route, status, seconds)
        requests.labels(method, route, status).inc()
        latency.labels(method, route).observe(seconds)

    exported = samples(ours)
    assert exported == samples(reference)
    assert 'http_requests_total{method="GET",route="/api/v1/files",status="200"} 2.0' in exported
    assert (
        'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/files"} 2.0'
        in exported
    )
