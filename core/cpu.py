"""What this machine's CPU can do that changes which detector model is fastest.

ONNX Runtime runs an int8 model fast only where the CPU multiplies 8-bit integers and adds them up in
32 bits in one instruction: VNNI on x86 (AVX-512 VNNI, AVX-VNNI, AMX), the dot-product extension on
Arm. Without it, ONNX Runtime's x86 kernels pair uint8 activations with int8 weights through 16-bit
intermediate sums that saturate (its quantization documentation says so), and the int8 model is
no faster than fp32: on a 2-core Xeon without VNNI the bundled fp32 model ran 173 ms a frame and the
quantized one 167 ms, finding 95 % of fp32's boxes; on an AMD EPYC with VNNI int8 was 1.7x fp32 with
98 % of its boxes.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "asimddp"})


@cache
def int8_dot_product(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU has an 8-bit dot-product instruction (the flags of /proc/cpuinfo; False when it
    cannot be read, the safe side: fp32 is right on every CPU)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features") and INT8_DOT_FLAGS & set(value.split()):
            return True
    return False
