"""Phone calls: the call-flow service behind Twilio's voice webhooks, the IVR flow files and
their pure engine, TwiML, the inputs and actions of each step, and where a call's state
lives between requests."""
