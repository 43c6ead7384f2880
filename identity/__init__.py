"""Who a person is to MemoryGate: users and browser sessions, API keys,
signing in with Google or GitHub (MemoryGate as their OAuth client — the
providers themselves are in ``oauth.py``), and deleting an account."""
