"""The people who solve cases and use the console: routing to them, their duty rosters,
their phones, console accounts, what each may see, and the audit trail of their changes."""
