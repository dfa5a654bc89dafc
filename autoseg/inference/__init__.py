"""Prediction: sliding windows with Gaussian weighting and test-time mirroring."""

from autoseg.inference.sliding_window import gaussian_importance, predict_slices, sliding_window_predict, tile_starts

__all__ = ["gaussian_importance", "predict_slices", "sliding_window_predict", "tile_starts"]
