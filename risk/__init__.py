"""baoxue.risk: scoring, explanations, reasons in words, rules, tiers, ranking and assignment."""

__all__: list[str] = []
