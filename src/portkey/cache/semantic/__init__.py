"""The semantic cache's engine: a local embedding model, partition guards, vector indexes."""
