"""dltrain: one command trains every architecture of the notes."""
