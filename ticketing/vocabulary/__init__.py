"""The domain's words as plain values every layer shares: case statuses and the only
moves between them, category levels and priorities, the starting catalogue, the roles a
member holds in a grid. Pure: no SQLAlchemy, no I/O."""
