"""ICDAR 2015 metric on hand-made cases."""
import pytest

from lite.ocr.det_metric import evaluate, hmean_of_counts, match_image
from lite.stats import paired_bootstrap as bootstrap


def box(x, y, w, h):
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]


def gt(x, y, w, h, text="word"):
    return {"points": box(x, y, w, h), "transcription": text}


def test_exact_and_shifted_matches():
    c = match_image([gt(0, 0, 100, 20), gt(0, 50, 100, 20)], [box(0, 0, 100, 20), box(30, 50, 100, 20)])
    # second: IoU = 70*20 / (130*20) = 0.54 > 0.5, still a match
    assert (c.matched, c.gt_care, c.det_care) == (2, 2, 2)
    c = match_image([gt(0, 0, 100, 20)], [box(40, 0, 100, 20)])  # IoU = 60/140 = 0.43
    assert c.matched == 0 and c.precision == 0 and c.recall == 0


def test_one_to_one_and_dont_care():
    # two detections on one word: one match, one false positive
    c = match_image([gt(0, 0, 100, 20)], [box(0, 0, 100, 20), box(2, 0, 100, 20)])
    assert (c.matched, c.det_care) == (1, 2) and c.precision == 0.5 and c.recall == 1.0
    # a detection inside a ### box counts for nothing; the ### box is not a miss
    c = match_image([gt(0, 0, 100, 20, "###"), gt(0, 50, 100, 20)], [box(10, 2, 50, 15), box(0, 50, 100, 20)])
    assert (c.matched, c.gt_care, c.det_care) == (1, 1, 1)


def test_counts_are_summed_over_images():
    r = evaluate([[gt(0, 0, 100, 20)], [gt(0, 0, 100, 20), gt(0, 50, 100, 20), gt(0, 90, 100, 20)]],
                 [[box(0, 0, 100, 20)], [box(0, 0, 100, 20), box(300, 300, 10, 10)]])
    # 2 matched of 4 gt and 3 detections: P 2/3, R 1/2 (not the mean of per-image values)
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(0.5)
    assert r["hmean"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert r["per_image"] == [[1, 1, 1], [1, 3, 2]]


def test_paired_bootstrap_of_an_hmean_difference():
    """Images drawn again with replacement, the same draw for both models."""
    def paired_bootstrap(a, b, rounds=2000):
        return bootstrap(a, b, hmean_of_counts, rounds)

    a = [[1, 1, 1], [1, 3, 2], [0, 2, 0], [2, 2, 2]]
    same = paired_bootstrap(a, a)
    assert same["std"] == 0 and same["low"] == same["high"] == 0
    worse = [[0, 1, 0], [1, 3, 2], [0, 2, 0], [1, 2, 1]]   # misses on two images, never better
    r = paired_bootstrap(a, worse, rounds=500)
    assert r == paired_bootstrap(a, worse, rounds=500)      # seeded
    # each draw's difference is >= 0 (b never matches more), and the spread is real
    assert 0 <= r["low"] < r["high"] and r["std"] > 0 and r["rounds"] == 500
    full = evaluate([[gt(0, 0, 1, 1)]], [[]])  # shapes must agree
    with pytest.raises(ValueError):
        paired_bootstrap(a, full["per_image"])


def test_paired_bootstrap_of_an_accuracy_difference():
    """Per-item 1/0 scores: the spread of a drop of k errors in n items is
    about sqrt(k) / n (the discordant items), not a fixed epsilon."""
    n, k = 400, 16
    a, b = [1] * n, [1] * (n - k) + [0] * k
    r = bootstrap(a, b)
    assert r["low"] < k / n < r["high"] and r["low"] > 0
    assert r["std"] == pytest.approx((k / n * (1 - k / n) / n) ** 0.5, rel=0.15)
    assert bootstrap(a, a)["std"] == 0
    with pytest.raises(ValueError, match="scores of the same items"):
        bootstrap(a, b[:-1])
