"""`slim bench`'s acceptance targets, checked on reports: the label-free and
labelled det targets, and a report gated on synthetic data never passes an
accuracy target."""
from slim.acceptance import check
from slim.report.schema import Report


def _det(hmean_float, hmean_pruned, label_weight, gate="icdar2015_test", synthetic=()):
    side = {"nb_bytes_arm": 1_000_000, "instructions_per_run": 500_000_000}
    return Report.from_json({
        "task": "det", "kind": "prune", "model": "ch_ppocr_mobile_v2.0_det", "metric": "hmean", "passed": True,
        "eval_set": {"name": gate, "size": 500, "parts": {gate: 500}, "gate_size": 500, "gate_set": gate,
                     "synthetic": list(synthetic)},
        "baseline": {"metric_value": hmean_float, **side}, "slim": {"metric_value": hmean_pruned, **side},
        "finetune": {"label_weight": label_weight}, "seconds": 1000.0,
        "ratios": {"flops": 0.33, "instructions": 0.5, "latency_x86": 0.5}})


def test_label_free_det_is_held_to_the_drop_and_labelled_to_the_official_pruned_model():
    rows = {r["target"]: r for r in check(_det(0.217, 0.214, 0.0))}
    drop = rows["hmean drop, gate set, label-free (points)"]
    assert drop["value"] == 0.3 and drop["passed"]
    rows = {r["target"]: r for r in check(_det(0.217, 0.240, 1.0))}
    got = rows["hmean of the pruned model, gate set, with labels (>=)"]
    assert got["limit"] == 0.246 and not got["passed"] and got["at_least"]
    assert all(r["passed"] for r in check(_det(0.217, 0.250, 1.0)))


def test_a_synthetic_gate_fails_the_accuracy_targets():
    rows = check(_det(0.82, 0.85, 0.0, gate="synthetic-eval", synthetic=["synthetic-eval"]))
    assert [r["passed"] for r in rows if "hmean" in r["target"]] == [False]
