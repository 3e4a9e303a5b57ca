"""Eval: run strategies over prompt suites, measure quality and diversity, plot the schedule."""
