"""Who a person is to MemoryGate and what may act for them: users and browser
sessions, API keys, the records of MemoryGate's own OAuth server (clients,
grants, codes, tokens: ``oauth_records``), signing in with Google or GitHub
(MemoryGate as their OAuth client — the providers themselves are in
``oauth.py``) or as the local owner, and deleting an account."""
