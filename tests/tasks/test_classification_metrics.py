import math

import numpy as np
import pytest

from autoseg.tasks.classification.metrics import auc_one_vs_rest, classification_metrics


def test_binary_metrics_on_a_hand_counted_case():
    # References: 3 CN (0), 3 AD (1); P(AD) per case.
    references = np.array([0, 0, 0, 1, 1, 1])
    p_ad = np.array([0.1, 0.4, 0.7, 0.35, 0.8, 0.9])
    metrics = classification_metrics(references, np.stack([1 - p_ad, p_ad], 1))
    # Predicted: 0 0 1 | 0 1 1 -> one error per class.
    assert metrics["confusion_matrix"] == [[2, 1], [1, 2]]
    assert metrics["accuracy"] == pytest.approx(4 / 6) and metrics["balanced_accuracy"] == pytest.approx(2 / 3)
    assert metrics["sensitivity"] == pytest.approx(2 / 3) and metrics["specificity"] == pytest.approx(2 / 3)
    # Of the 9 (AD, CN) pairs, AD ranks higher in all but (0.35 vs 0.4) and (0.35 vs 0.7): 7/9.
    assert metrics["auc"] == pytest.approx(7 / 9)


def test_ties_count_half_and_degenerate_cases_are_nan():
    assert auc_one_vs_rest(np.array([0.5, 0.5, 0.5, 0.5]), np.array([True, False, True, False])) == pytest.approx(0.5)
    assert math.isnan(auc_one_vs_rest(np.array([0.2, 0.9]), np.array([True, True])))  # no negative case
    metrics = classification_metrics(np.array([0, 0, 0, 0]), np.array([[0.9, 0.1]] * 3 + [[0.2, 0.8]]))
    assert metrics["balanced_accuracy"] == pytest.approx(0.75) and math.isnan(metrics["sensitivity"]) and math.isnan(metrics["auc"])


def test_imbalanced_majority_guess_scores_chance_on_balanced_accuracy():
    references = np.array([0] * 9 + [1])
    always_zero = np.array([[0.9, 0.1]] * 10)
    metrics = classification_metrics(references, always_zero)
    assert (
        metrics["accuracy"] == pytest.approx(0.9)
        and metrics["balanced_accuracy"] == pytest.approx(0.5)
        and metrics["auc"] == pytest.approx(0.5)
    )


def test_three_classes_average_one_vs_rest():
    references = np.array([0, 1, 2, 2])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.1, 0.7, 0.2], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    metrics = classification_metrics(references, probabilities)
    assert metrics["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    assert metrics["balanced_accuracy"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert metrics["sensitivity"] == pytest.approx((1 + 1 + 0.5) / 3)  # mean recall
    assert metrics["specificity"] == pytest.approx((2 / 3 + 1 + 1) / 3)
    # One-vs-rest AUCs: class 0, scores [.8, .1, .1, .6] with case 0 positive: 1. Class 1, [.1, .7, .2, .3]
    # with case 1 positive: 1. Class 2, [.1, .2, .7, .1] with cases 2 and 3 positive: 0.7 beats 0.1 and 0.2,
    # 0.1 ties 0.1 (a half) and loses to 0.2: 2.5 of 4 pairs.
    assert metrics["auc"] == pytest.approx((1 + 1 + 2.5 / 4) / 3)
