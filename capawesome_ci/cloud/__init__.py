"""The Capawesome Cloud client: one httpx client, one retry policy, the official SDK on top."""
