"""The administrator's changes: categories and SLA policies, rosters and calendars, grid
and staff imports; each validated whole and audited in its own transaction."""
