"""Procedural physics scenarios with closed-form ground truth (numpy only)."""
