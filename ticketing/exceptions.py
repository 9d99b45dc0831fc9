"""Every error the domain can raise; the web edge maps them to HTTP codes and replies."""


class DomainError(Exception):
    """Base of every error the core raises on purpose."""


class InvalidTransition(DomainError):
    """A case was asked to move to a status its current status cannot reach."""


class NotFound(DomainError):
    """The case, grid, person or message named does not exist."""


class NotPermitted(DomainError):
    """The person acting is not allowed to act on this case."""


class InvalidInput(DomainError):
    """A value from outside (phone number, command, code) cannot be understood."""


class MoveNotAllowed(NotPermitted):
    """The acting user's role may not make this kind of move on any case."""
