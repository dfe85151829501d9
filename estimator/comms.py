"""Communication: α-β cost of ring collectives on a hierarchical network, and which link a group uses.

Ref: Thakur, Rabenseifner, Gropp 2005 ("Optimization of Collective Communication Operations in MPICH"),
ring algorithms; NCCL's bus-bandwidth convention (nccl-tests PERFORMANCE.md): all-reduce moves
2·(n−1)/n·S bytes per rank, all-gather and reduce-scatter (n−1)/n·S, all-to-all (n−1)/n·S, send S.
Ranks are laid out tp fastest, then cp, then dp, then pp (Megatron-LM's order), so a group of `size`
ranks at `stride` stays inside a node when stride·size ≤ GPUs per node.
"""

from __future__ import annotations

from typing import Literal

from estimator.num import Num, maximum, minimum, where

Collective = Literal["all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv"]


def wire_factor(collective: Collective, n: Num) -> tuple[Num, Num]:
    """(bytes each rank sends per payload byte, latency steps) of a ring collective over n ranks."""
    if collective == "all_reduce":
        return 2 * (n - 1) / n, 2 * (n - 1)
    if collective in ("all_gather", "reduce_scatter", "all_to_all"):
        return (n - 1) / n, n - 1
    return 1.0, 1


def collective_time_s(
    *, collective: Collective, n: Num, payload_bytes: Num, alpha_s: Num, bandwidth_bytes_per_s: Num
) -> Num:
    """α·steps + wire bytes / β for one collective over n ranks; 0 when n = 1 (array-safe)."""
    factor, steps = wire_factor(collective, n)
    t = alpha_s * steps + factor * payload_bytes / bandwidth_bytes_per_s
    return where(n > 1, t, 0.0)


def intra_node(*, stride: Num, size: Num, gpus_per_node: Num) -> Num:
    """Whether a group of `size` ranks spaced `stride` apart fits in one node (NVLink) or crosses nodes."""
    return stride * size <= gpus_per_node


def ranks_per_node(*, stride: Num, size: Num, gpus_per_node: Num) -> Num:
    """Ranks of a group (`size` ranks `stride` apart, Megatron's layout) that share one node; each GPU has
    its own network interface, so a group crossing nodes drives that many NICs per node at once."""
    return minimum(size, maximum(gpus_per_node // maximum(stride, 1), 1))


def ring_exchange_time_s(*, n: Num, payload_bytes: Num, alpha_s: Num, bandwidth_bytes_per_s: Num) -> Num:
    """n − 1 point-to-point steps of `payload_bytes` around a ring of n ranks (ring attention, Liu et al.
    2023: each rank passes its K/V block on n − 1 times); 0 when n = 1 (array-safe)."""
    return maximum(n - 1, 0) * (alpha_s + payload_bytes / bandwidth_bytes_per_s)
