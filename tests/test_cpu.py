"""Which CPUs get the int8 detector by default: those with an 8-bit dot product (core/cpu.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.cpu import int8_dot_product

XEON_NO_VNNI = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512dq avx512cd avx512bw avx512vl\n"
EPYC_VNNI = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni avx512_bf16\n"
ALDER_LAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx_vnni\n"
GRAVITON = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimdrdm asimddp\n"
RASPBERRY_PI_3 = "processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"


@pytest.mark.parametrize(
    ("cpuinfo", "fast"),
    [(XEON_NO_VNNI, False), (EPYC_VNNI, True), (ALDER_LAKE, True), (GRAVITON, True), (RASPBERRY_PI_3, False)],
)
def test_int8_is_fast_only_with_an_8_bit_dot_product(tmp_path: Path, cpuinfo: str, fast: bool) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    assert int8_dot_product(path) is fast


def test_an_unreadable_cpuinfo_means_fp32(tmp_path: Path) -> None:
    assert int8_dot_product(tmp_path / "missing") is False


def test_a_flag_named_in_another_line_does_not_count(tmp_path: Path) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text("model name\t: avx512_vnni lookalike\nflags\t\t: fpu sse2\n")
    assert int8_dot_product(path) is False
