"""What leaders and agents read: the triage queue, dashboards, the performance assessment
and its exports."""
