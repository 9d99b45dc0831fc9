"""What the console's case pages read: the form for a case typed in by hand."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.models.catalogue import Category
from ticketing.places.outlines import city_bounds
from ticketing.vocabulary.catalogue import Priority


@dataclass(frozen=True)
class NewCaseForm:
    """The choices of the new-case form and where its map opens."""

    categories: list[tuple[str, str, str, Priority]]  # active: code, English, Chinese, priority
    bounds: list[list[float]] | None


def new_case_form(session: Session) -> NewCaseForm:
    """The active categories, by English name, and the box around the city's grids."""
    categories = session.execute(
        select(Category.code, Category.name_en, Category.name_zh, Category.default_priority)
        .where(Category.active)
        .order_by(Category.name_en)
    ).all()
    choices = [(code, en, zh, priority) for code, en, zh, priority in categories]
    return NewCaseForm(choices, city_bounds(session))
