"""Image-to-image metrics (regression tasks): MAE, NRMSE, PSNR and SSIM inside a body mask.

Inputs: a prediction P and a reference R of one grid (any dimensionality),
and a mask M of the voxels to score. Definitions, over the voxels of M:

* MAE = mean |P - R|, in the image's units;
* RMSE = sqrt(mean (P - R)^2); NRMSE = RMSE / (max R - min R);
* PSNR = 20 log10((max R - min R) / RMSE) in dB (infinite for P = R);
* SSIM: the structural similarity map with a Gaussian window (sigma 1.5
  voxels along every axis, so 3D volumes are scored in 3D), constants
  K1 = 0.01, K2 = 0.03 and data range max R - min R, averaged over M. It
  equals scikit-image's ``structural_similarity(gaussian_weights=True,
  use_sample_covariance=False)`` away from the image border; at the border
  the window is mirrored instead of left out, so thin volumes can be scored.

The data range is the reference's, inside M, so PSNR and NRMSE of a
prediction and of the low-dose input it improves on are on one scale.

``body_mask(reference)``: the voxels above the background, holes filled. The
background is what the image's outer faces hold (their median B and spread S,
1.4826 x the median absolute deviation); a voxel is body when it lies more than
1 % of the way from B to the 99.9th percentile H, and more than 4 S above B.
For PET and MR with a zero background this is the usual outline (voxels above
1 % of H); signed targets get theirs too: CT (B = -1000 HU, air, with its
noise) and z-scored images (B negative). Where the faces are not background
(the body fills the field of view, B above the middle of the range), B is the
0.1th percentile instead and S is 0.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from autoseg.preprocessing.crop import fill_holes

IMAGE_METRICS = ("mae", "nrmse", "psnr", "ssim")
SSIM_SIGMA, K1, K2 = 1.5, 0.01, 0.03


def body_mask(reference: np.ndarray, fraction: float = 0.01, noise_spreads: float = 4.0) -> np.ndarray:
    """The voxels of ``reference`` above its background, holes filled (see the module's description); every
    voxel of an image without contrast."""
    low, high = np.percentile(reference, [0.1, 99.9])
    faces = np.concatenate([np.take(reference, [0, -1], axis=axis).ravel() for axis in range(reference.ndim)])
    background = float(np.median(faces))
    spread = 1.4826 * float(np.median(np.abs(faces - background)))
    if background > (low + high) / 2:  # the faces are body: the body fills the field of view
        background, spread = low, 0.0
    if high <= background:
        return np.ones(reference.shape, dtype=bool)
    return fill_holes(reference > background + max(fraction * (high - background), noise_spreads * spread))


def ssim_map(prediction: np.ndarray, reference: np.ndarray, data_range: float) -> np.ndarray:
    """Per-voxel SSIM with a Gaussian window (see the module's description)."""
    x, y = prediction.astype(np.float64), reference.astype(np.float64)

    def blur(image):
        return ndimage.gaussian_filter(image, SSIM_SIGMA, mode="reflect", truncate=3.5)

    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y = blur(x * x) - mu_x**2, blur(y * y) - mu_y**2
    covariance = blur(x * y) - mu_x * mu_y
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * covariance + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))


def image_metrics(prediction: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """Returns MAE, NRMSE, PSNR (dB) and SSIM of ``prediction`` against ``reference`` inside ``mask``
    (default: the reference's body mask). An empty mask scores NaN."""
    if prediction.shape != reference.shape:
        raise ValueError(f"prediction {prediction.shape} and reference {reference.shape} differ in shape")
    mask = body_mask(reference) if mask is None else mask.astype(bool)
    if not mask.any():
        return dict.fromkeys(IMAGE_METRICS, math.nan)
    p, r = prediction[mask].astype(np.float64), reference[mask].astype(np.float64)
    data_range = float(r.max() - r.min()) or 1.0
    rmse = float(np.sqrt(np.mean((p - r) ** 2)))
    return {
        "mae": float(np.mean(np.abs(p - r))),
        "nrmse": rmse / data_range,
        "psnr": 20 * math.log10(data_range / rmse) if rmse > 0 else math.inf,
        "ssim": float(ssim_map(prediction, reference, data_range)[mask].mean()),
    }
