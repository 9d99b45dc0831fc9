"""A case's history: what kinds of change there are, who makes them, and recording each
as an append-only event with the facts the assessment reads."""
