"""Taking memory out and bringing it in: one account's whole memory as JSON Lines."""
