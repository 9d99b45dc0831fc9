"""What every HTTP entry point shares: the app's services, and the check that a request
was signed as Twilio signs (Twilio itself, or our simulator)."""
