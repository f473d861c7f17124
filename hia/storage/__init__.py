"""Files and databases: the JSONL reader and writer, SQLite, the score and embedding cache."""
