"""The places of the city: the region hierarchy, its grids and the gazetteer."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.db import Base, enum_column

if TYPE_CHECKING:
    from ticketing.models.people import GridAssignment


class RegionLevel(enum.StrEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"


class Region(Base):
    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    level: Mapped[RegionLevel] = mapped_column(enum_column(RegionLevel))
    name_en: Mapped[str] = mapped_column(String(200))
    name_zh: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))

    parent: Mapped[Region | None] = relationship(remote_side=[id])


class Grid(Base):
    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    community_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    # A GeoJSON Polygon geometry; the spatial index over it comes with smart routing.
    polygon: Mapped[dict[str, Any]] = mapped_column(JSON)
    centre_lat: Mapped[float] = mapped_column(Float)
    centre_lon: Mapped[float] = mapped_column(Float)

    community: Mapped[Region] = relationship()
    assignments: Mapped[list[GridAssignment]] = relationship(back_populates="grid")


class Place(Base):
    """A gazetteer entry: a named road address, landmark, school or market."""

    __tablename__ = "places"

    id: Mapped[int] = mapped_column(primary_key=True)
    name_en: Mapped[str] = mapped_column(String(200), index=True)
    name_zh: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))
