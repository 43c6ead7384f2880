"""The shared core every other package stands on: settings, the database
(engine, sessions, migrations, the embedded PostgreSQL), errors, logging,
the audit trail, digests of secrets, the request's principal and rate
limits. It imports no package above it, only the schema it writes
(``models``: the audit trail's table); pyproject.toml's import-linter
contract holds every layer to that."""
