"""Step grammars follow the city's catalogue: an edit reaches the IVR without a restart."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.speech.step_grammars import StepGrammars
from ticketing.models.catalogue import Category

pytestmark = pytest.mark.integration


def _rename_street_light(session_factory: sessionmaker[Session], name: str) -> None:
    with session_factory() as session:
        category = session.scalars(select(Category).where(Category.code == "street_light")).one()
        category.name_en = name
        session.commit()


def test_a_renamed_category_reaches_the_grammar_once_the_cache_ages(
    session_factory: sessionmaker[Session],
) -> None:
    kept = StepGrammars(session_factory, max_age=3600)
    fresh = StepGrammars(session_factory, max_age=0)
    assert kept.get("category", "en-US").interpret("the moon beacon is out") is None
    _rename_street_light(session_factory, "moon beacon")
    assert kept.get("category", "en-US").interpret("the moon beacon is out") is None  # cached
    assert fresh.get("category", "en-US").interpret("the moon beacon is out") == "street_light"
    kept.refresh()
    assert kept.get("category", "en-US").interpret("the moon beacon is out") == "street_light"
