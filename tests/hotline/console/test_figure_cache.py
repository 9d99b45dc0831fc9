"""The dashboard's figure cache: fresh figures kept, stale ones served while one refresh
runs behind them, a scope never seen computed while its request reads the rest."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import pytest

from hotline.console.figure_cache import FigureCache, Kept

pytestmark = pytest.mark.unit

WAIT = 5.0  # seconds; every wait here ends long before unless something is broken


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Figures:
    """A computation that counts its calls, says where it ran, and can be held."""

    def __init__(self) -> None:
        self.calls = 0
        self.threads: list[str] = []
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Event()
        self.fail = False

    def __call__(self) -> str:
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        self.started.set()
        assert self.release.wait(WAIT)
        if self.fail:
            raise RuntimeError("the database went away")
        return f"figures #{self.calls}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> Iterator[FigureCache[str]]:
    kept: FigureCache[str] = FigureCache(background=True, max_age=900, clock=clock)
    yield kept
    kept.shutdown()


def value(pending: Callable[[], Kept[str]]) -> str:
    return pending().value


def test_fresh_figures_are_computed_once(cache: FigureCache[str], clock: Clock) -> None:
    figures = Figures()
    assert value(cache.get("city", figures, ttl=60)) == "figures #1"
    clock.now += 59
    assert value(cache.get("city", figures, ttl=60)) == "figures #1"
    assert figures.calls == 1


def test_a_scope_never_seen_is_computed_in_a_worker(cache: FigureCache[str]) -> None:
    figures = Figures()
    figures.release.clear()
    pending = cache.get("city", figures, ttl=60)
    assert figures.started.wait(WAIT)  # running before the caller asks for it
    figures.release.set()
    assert value(pending) == "figures #1"
    assert figures.threads[0] != threading.current_thread().name


def test_stale_figures_are_served_while_one_refresh_runs(
    cache: FigureCache[str], clock: Clock
) -> None:
    figures = Figures()
    assert value(cache.get("city", figures, ttl=60)) == "figures #1"
    clock.now += 61
    figures.release.clear()
    figures.started.clear()
    # Both answered at once with the old figures; one refresh started for the two.
    assert value(cache.get("city", figures, ttl=60)) == "figures #1"
    assert value(cache.get("city", figures, ttl=60)) == "figures #1"
    assert figures.started.wait(WAIT)
    figures.release.set()
    cache.settle(WAIT)
    assert figures.calls == 2
    assert value(cache.get("city", figures, ttl=60)) == "figures #2"


def test_figures_too_old_are_not_served(clock: Clock) -> None:
    cache: FigureCache[str] = FigureCache(background=True, max_age=300, clock=clock)
    figures = Figures()
    assert value(cache.get("city", figures, ttl=60)) == "figures #1"
    clock.now += 301
    assert value(cache.get("city", figures, ttl=60)) == "figures #2"
    cache.shutdown()


def test_viewers_arriving_together_share_one_computation(cache: FigureCache[str]) -> None:
    figures = Figures()
    figures.release.clear()
    first = cache.get("city", figures, ttl=60)
    second = cache.get("city", figures, ttl=60)
    figures.release.set()
    assert value(first) == value(second) == "figures #1"
    assert figures.calls == 1


def test_scopes_are_kept_apart(cache: FigureCache[str]) -> None:
    city, street = Figures(), Figures()
    assert value(cache.get("city", city, ttl=60)) == "figures #1"
    assert value(cache.get("street S1", street, ttl=60)) == "figures #1"
    assert (city.calls, street.calls) == (1, 1)


def test_a_failed_refresh_keeps_the_last_figures_and_is_logged(
    cache: FigureCache[str], clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    figures = Figures()
    assert value(cache.get("city", figures, ttl=60)) == "figures #1"
    clock.now += 61
    figures.fail = True
    with caplog.at_level(logging.ERROR, logger="hotline.console.figure_cache"):
        assert value(cache.get("city", figures, ttl=60)) == "figures #1"
        cache.settle(WAIT)
    assert "computing figures for 'city' failed; the last ones are kept" in caplog.text
    figures.fail = False
    assert value(cache.get("city", figures, ttl=60)) == "figures #1"  # a new refresh...
    cache.settle(WAIT)
    assert value(cache.get("city", figures, ttl=60)) == "figures #3"  # ...that succeeded


def test_a_failed_first_computation_reaches_its_request(cache: FigureCache[str]) -> None:
    figures = Figures()
    figures.fail = True
    with pytest.raises(RuntimeError, match="the database went away"):
        value(cache.get("city", figures, ttl=60))
    figures.fail = False
    assert value(cache.get("city", figures, ttl=60)) == "figures #2"


def test_ttl_zero_keeps_nothing(cache: FigureCache[str]) -> None:
    figures = Figures()
    assert value(cache.get("city", figures, ttl=0)) == "figures #1"
    assert value(cache.get("city", figures, ttl=0)) == "figures #2"


def test_without_background_work_the_caller_computes_when_it_asks(clock: Clock) -> None:
    cache: FigureCache[str] = FigureCache(background=False, clock=clock)
    figures = Figures()
    pending = cache.get("city", figures, ttl=60)
    assert figures.calls == 0  # not before the caller has closed its own transaction
    assert value(pending) == "figures #1"
    assert figures.threads == [threading.current_thread().name]
    clock.now += 61  # stale: computed again by the caller, nothing served old
    assert value(cache.get("city", figures, ttl=60)) == "figures #2"


def test_the_number_of_scopes_kept_is_bounded(clock: Clock) -> None:
    cache: FigureCache[str] = FigureCache(background=False, entries=2, clock=clock)
    figures = Figures()
    for scope in ("a", "b", "c"):
        value(cache.get(scope, figures, ttl=60))
    assert value(cache.get("c", figures, ttl=60)) == "figures #3"  # the newest stays
    assert value(cache.get("a", figures, ttl=60)) == "figures #4"  # room was made
