"""The system of record, in typed SQLAlchemy 2: one module of tables per concept.

The ticket row holds the current state; `TicketEvent` rows are the append-only history it
was derived from. Times are stored as timezone-aware UTC on every backend (`ticketing.db`).
Importing any of these modules imports them all (this package's `__init__`), so every
relationship's target is mapped before the first query.
"""

from ticketing.models import (  # noqa: F401  (each module registers its tables)
    accounts,
    calls,
    cases,
    catalogue,
    people,
    places,
    sla,
    sms,
)
