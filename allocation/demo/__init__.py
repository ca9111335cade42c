"""Demo data: a plausible InvestAI partnership to explore and load-test."""
