"""Background work: the job functions workers run by name, the queue they are sent to (rq
or in-process), and the scheduler that runs the minute tick."""
