"""Reading `/metrics` the way Prometheus does: through the app, parsed by
prometheus_client's own parser. Other test folders import `scrape` from here."""

from __future__ import annotations

from flask import Flask
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One scrape of /metrics: every sample by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        """A sample's value; 0 when the series is not there (yet)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.samples


def scrape(app: Flask) -> Scrape:
    """GET /metrics from loopback, as the Prometheus server on the host would."""
    response = app.test_client().get("/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return Scrape(response.get_data(as_text=True))


def moved(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    """How much a series moved between two scrapes."""
    return after.value(name, **labels) - before.value(name, **labels)
