"""The demo city, its console accounts and the starting catalogue, written into a database."""
