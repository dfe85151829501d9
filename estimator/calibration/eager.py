"""HBM traffic of eager PyTorch elementwise code, measured: every ATen op a module dispatches reads its
tensor inputs and writes its outputs (views move nothing). Divided by the bytes of the one fused kernel the
ledger charges (read the inputs once, write the output once), this is how much more memory traffic a stack
without fused kernels (eager torchtitan, plain PyTorch) moves for each kind of op.

The modules are the reference implementations such stacks run: torchtitan's RMSNorm (`x.float()`, mean of
squares, rsqrt, cast back, weight) and RoPE (complex multiply in fp32), SwiGLU as `silu(a) * b`, and the
loss as `cross_entropy(logits.float(), target)`. `estimator calibrate eager` prints the table;
efficiency_defaults.yaml keeps it (`eager_traffic`), and a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# ops that only re-describe memory (no kernel, no traffic)
_VIEWS = frozenset(
    {
        *("view", "_unsafe_view", "reshape", "_reshape_alias", "expand", "t", "transpose", "permute"),
        *("view_as_complex", "view_as_real", "detach", "alias", "unsqueeze", "squeeze", "slice"),
        *("select", "as_strided", "lift_fresh", "empty_like", "empty"),
    }
)


def dispatched_bytes(fn: Callable[..., Any], *args: Any) -> int:
    """Bytes read and written by the ATen ops `fn(*args)` dispatches (inputs + outputs of each)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class Count(TorchDispatchMode):  # type: ignore[no-untyped-call]
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            out = func(*args, **(kwargs or {}))
            if func.overloadpacket.__name__ not in _VIEWS:
                tensors = [t for t in tree_flatten((args, kwargs, out))[0] if isinstance(t, torch.Tensor)]
                Count.total += sum(t.numel() * t.element_size() for t in tensors)
            return out

    with Count():  # type: ignore[no-untyped-call]
        fn(*args)
    return Count.total


def eager_traffic(
    tokens: int = 64, d_model: int = 512, heads: int = 8, kv_heads: int = 2
) -> dict[str, float]:
    """Eager bytes ÷ fused-kernel bytes for the RMSNorm, RoPE, gated activation and loss of a bf16 model."""
    import torch
    import torch.nn.functional as F

    bf16, elem = torch.bfloat16, 2
    d_head, d_ff, vocab = d_model // heads, 4 * d_model, 8 * d_model
    x = torch.randn(tokens, d_model, dtype=bf16)
    weight = torch.ones(d_model, dtype=bf16)

    def rmsnorm(x: torch.Tensor) -> torch.Tensor:  # torchtitan models/norms.py RMSNorm
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6)).type_as(x) * weight

    q = torch.randn(1, tokens, heads, d_head, dtype=bf16)
    k = torch.randn(1, tokens, kv_heads, d_head, dtype=bf16)
    angles = torch.randn(tokens, d_head // 2)
    freqs = torch.polar(torch.ones_like(angles), angles).view(1, tokens, 1, d_head // 2)

    def rope(q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # torchtitan model.py
        def rotate(t: torch.Tensor) -> torch.Tensor:
            c = torch.view_as_complex(t.float().reshape(*t.shape[:-1], -1, 2))
            return torch.view_as_real(c * freqs).flatten(3).type_as(t)

        return rotate(q), rotate(k)

    gate, up = torch.randn(tokens, d_ff, dtype=bf16), torch.randn(tokens, d_ff, dtype=bf16)
    logits, target = torch.randn(tokens, vocab, dtype=bf16), torch.randint(0, vocab, (tokens,))
    return {
        "rmsnorm": dispatched_bytes(rmsnorm, x) / (2 * elem * tokens * d_model),
        "rope": dispatched_bytes(rope, q, k) / (2 * elem * tokens * (heads + kv_heads) * d_head),
        "swiglu": dispatched_bytes(lambda a, b: F.silu(a) * b, gate, up) / (3 * elem * tokens * d_ff),
        "cross_entropy": dispatched_bytes(lambda z: F.cross_entropy(z.float(), target), logits)
        / ((elem + 4) * tokens * vocab),  # the ledger's fused loss: read the logits, write fp32 gradients
    }
