"""A stand-in for Twilio's side of calls, SMS and Media Streams, for demos, tests and benches."""
