"""MemoryGate as an OAuth 2.1 authorization server for MCP clients: the
stored records (clients, consents, codes, tokens), the MCP SDK provider over
them, and the HTTP endpoints (metadata, registration, authorize, consent,
token, revoke)."""
