"""Twilio at the edge: its signed webhooks in (voice and SMS), SMS out through its REST API."""
