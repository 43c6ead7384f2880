"""The command line behind ``python server.py``: serve, stdio, migrate, create-key."""
