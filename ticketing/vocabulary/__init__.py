"""The domain's words as plain values every layer shares: case statuses and the only
moves between them, category levels and priorities, the starting catalogue, the roles a
member holds in a grid, the kinds of history event and who signs them. Pure: no
SQLAlchemy, no I/O."""
