"""Declarative call flows: YAML files read by a pure engine, rendered to TwiML."""
