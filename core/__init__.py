"""The shared core every other package stands on: settings, the database
(engine, sessions, migrations, the embedded PostgreSQL), errors, logging,
the audit trail, the request's principal and rate limits. Nothing here
imports from the other packages."""
