"""The domain core: cases, the grid hierarchy, routing and the people who solve problems.

Nothing here knows about HTTP, Twilio or job queues, so the same rules hold for a phone
call, an SMS reply, the agent console and a batch job.
"""
