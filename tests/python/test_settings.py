import pytest
import torch

from scmvp.settings import _keeps_float32, _onednn_float32_matmul_available, fast_float32_matmul


def _relative_error(a, b):
    exact = a.double() @ b.double()
    return float(((a @ b).double() - exact).norm() / exact.norm())


@pytest.mark.parametrize("shape", [(128, 128, 1677), (128, 24744, 128), (24744, 128, 128)])
def test_fast_float32_matmul_keeps_float32_accuracy(shape):
    # the shapes of a training step: decoder output layer, dense re-encoding, weight gradient
    g = torch.Generator().manual_seed(0)
    m, k, n = shape
    a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
    plain = _relative_error(a, b)
    with fast_float32_matmul():
        fast = _relative_error(a, b)
        exact_sum = (torch.full((4, 256), 1.0 + 2.0**-9) @ torch.ones(256, 4))[0, 0].item()
    # bfloat16 inputs would give ~3e-3 and 256.0
    assert plain < 1e-5 and fast < 1e-5
    assert exact_sum == 256.5


def test_probe_rejects_a_bfloat16_product():
    assert _keeps_float32(torch.matmul)
    assert not _keeps_float32(lambda a, b: (a.bfloat16() @ b.bfloat16()).float())


def test_fast_float32_matmul_restores_the_setting_even_after_an_error():
    switch = getattr(torch.backends.mkldnn, "matmul", None)
    if not hasattr(switch, "fp32_precision"):
        pytest.skip("torch < 2.9 has no oneDNN float32-matmul switch; the context is a no-op there")
    before = switch.fp32_precision
    with pytest.raises(KeyError):
        with fast_float32_matmul():
            if _onednn_float32_matmul_available():
                assert switch.fp32_precision == "bf16"
            raise KeyError("inside")
    assert switch.fp32_precision == before


def test_allocator_thresholds_are_set_only_while_training(monkeypatch):
    """glibc's thresholds are raised inside keep_freed_memory() and restored after it; the
    environment variable SCMVP_KEEP_FREED_MEMORY=0 leaves the allocator alone."""
    import ctypes
    import sys

    from scmvp.settings import keep_freed_memory

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc only")
    calls = []
    real = ctypes.CDLL("libc.so.6")

    class Recording:
        def mallopt(self, param, value):
            calls.append((param, value))
            return real.mallopt(param, value)

    monkeypatch.setattr(ctypes, "CDLL", lambda name: Recording())
    with keep_freed_memory():
        assert calls == [(-3, 32 * 2**20), (-1, 256 * 2**20)]
    assert calls[2:] == [(-3, 128 * 1024), (-1, 128 * 1024)]
    calls.clear()
    monkeypatch.setenv("SCMVP_KEEP_FREED_MEMORY", "0")
    with keep_freed_memory():
        pass
    assert calls == []
