"""MemoryGate as an OAuth 2.1 authorization server for MCP clients: the MCP
SDK provider over the stored records (``identity.oauth_records``), and the
HTTP endpoints (metadata, registration, authorize, consent, token, revoke)."""
