"""The telephony edge and the web app: webhooks, the IVR, the CLI and the job entry points."""
