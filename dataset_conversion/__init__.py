"""Converters from public dataset layouts, and seeded generators of stand-in datasets."""
