"""Survival analysis of customer lifetimes: tables, curves, drivers, predictions, validation."""
