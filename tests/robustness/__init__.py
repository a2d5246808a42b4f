"""Robustness: property-based fuzzing, hostile input, faults and shutdown."""
