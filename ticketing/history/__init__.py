"""A case's history: each change recorded as an append-only event (its kind and actor
from `ticketing.vocabulary.events`), with the facts the assessment reads kept on the case."""
