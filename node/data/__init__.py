"""Data files the node ships: seed incentive catalogues."""
