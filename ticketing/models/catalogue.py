"""What a case can be about: the city departments and the case categories."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    ForeignKey,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.db import Base, enum_column
from ticketing.vocabulary.catalogue import CategoryLevel, Priority


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))
    level: Mapped[CategoryLevel] = mapped_column(enum_column(CategoryLevel))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    default_priority: Mapped[Priority] = mapped_column(enum_column(Priority))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    department: Mapped[Department | None] = relationship()
