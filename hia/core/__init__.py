"""Values and rules: goals, attributes, objectives, budgets, usage and results. No I/O."""
