"""Dispatch: condition-aware travel times, the assignment solver, recommendations, staging and unit positions."""
