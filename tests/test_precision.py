"""Which precision training computes in on which machine."""

from __future__ import annotations

import pytest

from digits import precision

AMD_ZEN4 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma avx512f avx512bw avx512_bf16 avx512_vnni\n"
SAPPHIRE_RAPIDS = "flags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"
SKYLAKE = "flags\t\t: avx2 fma avx512f avx512bw avx512vl\n"


@pytest.mark.parametrize(
    ("cpuinfo", "environ", "expected"),
    [
        (AMD_ZEN4, {}, True),
        (SAPPHIRE_RAPIDS, {}, True),
        (SKYLAKE, {}, False),  # AVX-512 without bfloat16: oneDNN would emulate it
        (AMD_ZEN4, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, False),  # capped below its units
        (AMD_ZEN4, {"ONEDNN_MAX_CPU_ISA": "avx512_core"}, False),
        (AMD_ZEN4, {"DNNL_MAX_CPU_ISA": "AVX2"}, False),  # oneDNN's older name
        (SAPPHIRE_RAPIDS, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, True),
        (SAPPHIRE_RAPIDS, {"ONEDNN_MAX_CPU_ISA": "ALL"}, True),
        ("processor\t: 0\nFeatures\t: fp asimd bf16\n", {}, False),  # Arm: not judged
        (None, {}, False),  # no /proc/cpuinfo (macOS, Windows)
    ],
)
def test_a_cpu_has_bfloat16_where_its_flags_list_the_units_and_onednn_may_use_them(
    tmp_path, cpuinfo, environ, expected
):
    path = tmp_path / "cpuinfo"
    if cpuinfo is not None:
        path.write_text(cpuinfo)
    assert precision.cpu_has_bfloat16(path, environ) is expected
