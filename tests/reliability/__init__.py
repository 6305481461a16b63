"""Faults and races: crash durability, many processes on one store, lost updates, restarts."""
