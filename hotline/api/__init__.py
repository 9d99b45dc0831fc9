"""The JSON API for machines."""
