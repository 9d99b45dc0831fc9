"""Errors of the edge: what outside systems did, said in our words."""


class SmsRejected(Exception):
    """The provider refused this message for good (invalid number, opted out): no retry."""


class SmsUnavailable(Exception):
    """The provider could not take the message now (down, timeout, rate limit): retry."""


class JobsNotBound(RuntimeError):
    """A job ran in a process that bound no services (an `rq worker` started by hand)."""
