"""Twilio Media Streams: the WebSocket server that recognises callers' speech as it
arrives, and the client the call simulator streams WAV files with."""
