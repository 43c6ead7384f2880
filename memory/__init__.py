"""The memory domain: the four memory types and how they are validated,
stored (with versions, duplicates and time), archived, embedded, indexed and
searched, the local embedding model, the user guide, and the MCP tools that
expose it all (``mcp_tools.build_mcp_server``)."""
