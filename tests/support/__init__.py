"""Test support: the fault-injecting OpenAI-compatible server and other doubles (not part of hia)."""
