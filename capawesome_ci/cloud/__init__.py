"""The platform adapters (Capawesome, Capwrapper, Peak) over one httpx client and one retry policy."""
