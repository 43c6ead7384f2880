"""The command line behind ``python server.py``: serve (with one process or
several, ``prefork``), stdio, migrate, create-key, delete-account."""
