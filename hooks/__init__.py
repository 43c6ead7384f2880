"""Clients an agent's hooks run: Python's standard library only, importing nothing of MemoryGate."""
