"""What hia calls: chat endpoints, the policy, the optimizer, the embedder, rate limits, local servers."""
