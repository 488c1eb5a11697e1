"""qusayr: an agent-based Mesa model of the second battle of al-Qusayr (2013)."""
