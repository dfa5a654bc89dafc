"""Experiment planners: from a dataset fingerprint to plans.json (target spacing, patch, network, batch).

The planner registry and the default U-Net planner are built with `autoseg plan_and_preprocess`.
"""
