"""Hardware profiles: each loads, is named after its file, is plausible and cites a source for every
number."""

from __future__ import annotations

import pytest

from estimator.profiles import builtin_profiles, profiles_dir
from estimator.specs.hardware import HardwareSpec

REQUIRED = [
    "a100-sxm-40gb",
    "a100-sxm-80gb",
    "a100-pcie-80gb",
    "h100-sxm-80gb",
    "h100-pcie-80gb",
    "h200-sxm-141gb",
    "h800-sxm-80gb",
    "b200-sxm-180gb",
    "gb200",
    "v100-sxm2-32gb",
    "l4",
    "l40s",
    "a10g",
    "t4",
    "mi250x",
    "mi300x",
    "tpu-v4",
    "tpu-v5e",
    "tpu-v5p",
    "gaudi2",
    "gaudi3",
]
PROFILES = builtin_profiles()


def test_required_profiles_exist() -> None:
    assert set(REQUIRED) <= set(PROFILES)
    assert {p.stem for p in profiles_dir().glob("*.yaml")} == set(PROFILES)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profile_is_plausible_and_sourced(name: str) -> None:
    hw: HardwareSpec = PROFILES[name]
    peaks = {k: v for k, v in hw.peak_flops_per_s.model_dump().items() if v is not None}
    assert peaks and all(1e11 < v <= 2e16 for v in peaks.values())  # up to Blackwell's dense FP4
    assert 8e9 < hw.memory_bytes < 300 * 2**30
    assert 2e11 < hw.memory_bandwidth_bytes_per_s < 1e13
    assert hw.inter_node_bandwidth_bytes_per_s <= hw.intra_node_bandwidth_bytes_per_s
    assert 50 <= hw.tdp_w <= 1500
    for field in (
        "peak_flops_per_s",
        "memory_bytes",
        "memory_bandwidth_bytes_per_s",
        "intra_node_bandwidth_bytes_per_s",
        "inter_node_bandwidth_bytes_per_s",
        "gpus_per_node",
        "tdp_w",
    ):
        assert hw.sources.get(field), f"{name}: {field} has no source"
    for price in hw.prices:
        assert price.date and price.source and 0.1 < price.usd_per_gpu_hour < 50


def test_a100_and_h100_numbers() -> None:
    """Spot values from shared/reference/hardware.md (dense, no sparsity)."""
    a100, h100 = PROFILES["a100-sxm-80gb"], PROFILES["h100-sxm-80gb"]
    assert a100.peak("bf16") == 312e12 and a100.memory_bandwidth_bytes_per_s == pytest.approx(2.039e12)
    assert h100.peak("bf16") == pytest.approx(989.4e12) and h100.peak("fp8") == pytest.approx(1978.9e12)
    assert h100.intra_node_bandwidth_bytes_per_s == 450e9  # NVLink 4: 900 GB/s both directions
    with pytest.raises(ValueError, match="no fp8 peak"):
        a100.peak("fp8")
