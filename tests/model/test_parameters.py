from chatvla2.model.config import preset
from chatvla2.model.parameters import component_counts, dense_counterpart


def totals(config):
    rows = component_counts(config)
    return sum(r.total for r in rows), sum(r.active for r in rows), {r.name: r for r in rows}


def test_paper_preset_sizes_on_the_meta_device():
    config = preset("paper")
    total, active, rows = totals(config)
    dense_total, dense_active, _ = totals(dense_counterpart(config))
    assert dense_total == dense_active
    assert 3.0e9 < dense_total < 3.3e9  # 2B Qwen2-VL + 1B head: the paper's dense 3B model
    assert 0.9e9 < rows["action head"].total < 1.1e9  # ScaleDP-H
    assert abs(total / dense_total - 1.40) < 0.01  # the paper's +40% memory
    experts = rows["decoder FFN experts"]
    assert experts.active * config.moe.num_experts == experts.total * config.moe.top_k
    assert active < total


def test_tiny_preset_is_small():
    total, _, _ = totals(preset("tiny"))
    assert 2e6 < total < 20e6
