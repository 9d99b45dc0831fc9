"""What is promised and what happens when it is not kept: SLA policies on business time,
the escalation ladder, each case's deadlines, and the sweep that fires the rungs."""
