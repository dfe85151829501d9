"""The ops of one transformer layer, Megatron-LM's way (Shoeybi et al. 2019; Korthikanti et al. 2022):
column-parallel QKV and FC1, row-parallel output and FC2, fused norm, bias-dropout-add, bias-activation and
softmax kernels, the attention core (unfused or FlashAttention), tensor/context/expert-parallel
communication, and for MoE a router, routed experts and shared experts.

Each function returns `Op` rows for one GPU and one micro-batch (`Work`); FLOPs come from flops.py, bytes
saved for backward from activations.py (each term attached to the op that keeps it), parameters from
params.py. Nothing else in the estimator writes an op's FLOPs, bytes or backward rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from estimator.activations import SELECTIVE_DROPS, attention_block_terms, ffn_block_terms
from estimator.finetune import DEQUANT_BYTES_PER_PARAM, adapted_matrices
from estimator.flops import attention_matmul_flops, linear_flops, norm_flops
from estimator.kvcache import experts_touched
from estimator.ledger.ops import Backward, Op, ParamGroup
from estimator.ledger.work import Work
from estimator.num import Num
from estimator.params import linear_params, norm_params, router_params
from estimator.specs.model import ModelSpec

# which op keeps each activation term of activations.py (a term not listed stays with the block's first op)
_ATTENTION_TERM_OP = {
    "qkv_input": "qkv_proj",
    "q": "core",
    "k": "core",
    "v": "core",
    "kv_repeat": "core",
    "softmax_output": "core",
    "softmax_cast": "core",
    "attention_dropout_mask": "core",
    "attention_dropout_output": "core",
    "flash_logsumexp": "core",
    "attention_bias": "core",
    "q_latent": "latent",
    "kv_latent": "latent",
    "out_proj_input": "out_proj",
    "attention_output_dropout_mask": "residual",
}
_FFN_TERM_OP = {
    "fc1_input": "fc1",
    "ffn_inner": "activation",
    "ffn_act_output": "fc2",
    "ffn_inner_dropout_mask": "activation",
    "ffn_inner_dropout_output": "activation",
    "ffn_output_dropout_mask": "residual",
    "router_probs": "router",
    "expert_input_copies": "fc1",
    "expert_outputs": "fc2",
    "routing_weights_and_indices": "router",
    "router_topk": "router",
}


def _terms_by_op(
    terms: Mapping[str, Num], table: Mapping[str, str], default: str
) -> dict[str, dict[str, Num]]:
    out: dict[str, dict[str, Num]] = {}
    for name, value in terms.items():
        out.setdefault(table.get(name, default), {})[name] = value
    return out


def gemm_bytes(w: Work, rows: Num, k: Num, n: Num) -> Num:
    """HBM bytes of one GEMM (rows×k)·(k×n): both activations at the activation width, the weight at its
    stored width (quantised serving weights are read narrower)."""
    return w.act_bytes * (rows * k + rows * n) + w.wbytes * k * n


@dataclass(frozen=True)
class Weights:
    """The parameters a GEMM owns: in the whole model, on this GPU, used per token, and their group."""

    total: Num = 0.0
    local: Num = 0.0
    group: ParamGroup = ""
    active: Num | None = None


def gemm_op(
    name: str,
    w: Work,
    shape: tuple[Num, Num, Num],
    *,
    weights: Weights | None = None,
    count: Num = 1.0,
    saved: Mapping[str, Num] | None = None,
    trainable: bool = True,
    high_precision: bool = False,
) -> Op:
    """A weight GEMM (rows×k)·(k×n); frozen under LoRA/QLoRA (dgrad only) unless `trainable` (an adapter).
    Under an fp8/fp4 recipe it runs narrow unless `high_precision`, and casting its input (and, in backward,
    its output gradient) costs `cast_passes` reads of the 16-bit tensor and one narrow write."""
    rows, k, n = shape
    p = weights or Weights()
    backward: Backward = "frozen_gemm" if (w.frozen and not trainable) else "gemm"
    narrow = w.cast_passes > 0 and not high_precision
    if narrow and w.narrow_saved and saved:  # the input is kept as the narrow copy the GEMM read
        saved = {term: value * w.narrow_bytes / w.act_bytes for term, value in saved.items()}
    return Op(
        name,
        "gemm",
        backward,
        flops=linear_flops(tokens=rows, d_in=k, d_out=n),
        bytes=gemm_bytes(w, rows, k, n),
        count=count,
        matmul=True,
        saved_terms=dict(saved or {}),
        params=p.total,
        params_local=p.local,
        params_active=p.active,
        param_group=p.group,
        high_precision=high_precision,
        cast_bytes=rows * k * (w.act_bytes * w.cast_passes + w.narrow_bytes) if narrow else 0.0,
    )


def norm_op(name: str, model: ModelSpec, w: Work, saved: Mapping[str, Num] | None = None) -> Op:
    """A LayerNorm/RMSNorm over the hidden state: reads and writes it (split by tp only with SP)."""
    hidden = w.tokens * model.d_model * w.outside_tp
    rms = model.norm == "rmsnorm"
    p = norm_params(
        d_model=model.d_model, rms=rms, bias=model.bias if model.norm_bias is None else model.norm_bias
    )
    return Op(
        name,
        "norm",
        "elementwise",
        flops=norm_flops(tokens=w.tokens * w.outside_tp, d_model=model.d_model, rms=rms),
        bytes=2 * w.act_bytes * hidden,
        saved_terms=dict(saved or {}),
        params=p,
        params_local=p,
        param_group="norms",
    )


def _residual(name: str, model: ModelSpec, w: Work, saved: Mapping[str, Num] | None = None) -> Op:
    """Fused bias-dropout-add: reads the block output and the residual, writes the sum, plus a 1-byte mask."""
    hidden = w.tokens * model.d_model * w.outside_tp
    mask = 1.0 if model.dropout > 0 else 0.0
    return Op(
        name,
        "elementwise",
        "elementwise",
        bytes=(3 * w.act_bytes + mask) * hidden,
        saved_terms=dict(saved or {}),
    )


def _tp_exchange(name: str, model: ModelSpec, w: Work) -> Op:
    """One all-reduce of the b·s·h block output per direction, or with sequence parallelism an all-gather
    plus a reduce-scatter: the same bytes and ring steps (Korthikanti et al. 2022 Sec. 4.2.2), so one
    all-reduce stands for both. On the critical path, as in Megatron-LM."""
    return Op(
        name,
        "collective",
        "collective",
        bytes=w.act_bytes * w.tokens * model.d_model,
        collective="all_reduce",
        group="tp",
        group_size=w.tp,
    )


def _attention_core(
    prefix: str, model: ModelSpec, w: Work, kv_len: Num, causal: float, saved: Mapping[str, Num]
) -> list[Op]:
    """The attention core over `kv_len` keys: a fused FlashAttention kernel (Dao et al. 2022: skips the
    masked blocks of a causal mask; keeps no s×s tensor) or Megatron's unfused path (QKᵀ and P·V batched
    GEMMs computed in full, a scale-mask-softmax + dropout kernel reading and writing the s×s scores).
    Under selective recomputation the unfused s×s tensors are dropped and recomputed (Korthikanti Sec. 5)."""
    heads = model.n_heads / w.tp
    b, q = w.batch, w.q_len
    d_qk, d_v = model.qk_head_dim, model.value_head_dim  # d and d, or MLA's nope + rope and value widths
    drops = tuple(k for k in saved if k in SELECTIVE_DROPS)
    matmuls = [
        attention_matmul_flops(
            q_tokens=b * q, kv_tokens=kv_len, n_heads=heads, d_head=d, causal_fraction=causal
        )
        for d in (d_qk, d_v)
    ]  # QKᵀ and P·V
    if w.flash:
        io = w.act_bytes * b * q * heads * (d_qk + d_v) + w.kvbytes * b * kv_len * kv_width(model) / w.tp
        return [
            Op(
                f"{prefix}attention",
                "attention",
                "flash",
                flops=matmuls[0] + matmuls[1],
                bytes=io,
                kernel=w.attention_kernel,
                matmul=True,
                saved_terms=dict(saved),
                selective_drop=drops,
            )
        ]
    one = (matmuls[0] + matmuls[1]) / 2  # two batched GEMMs (of equal size unless MLA widens QKᵀ)
    io = w.act_bytes * b * heads * (q * kv_len + (q + kv_len) * (d_qk + d_v) / 2)
    scores = b * heads * q * kv_len
    dropout = 1.0 if model.dropout > 0 else 0.0
    softmax_bytes = 2 * w.act_bytes * scores + (2 * w.act_bytes + 1) * scores * dropout
    return [
        Op(
            f"{prefix}attention",
            "attention",
            "attn_gemm",
            flops=one,
            bytes=io,
            count=2.0,
            matmul=True,
            saved_terms=dict(saved),
            selective_drop=drops,
            selective_recompute=True,
        ),
        Op(f"{prefix}softmax", "elementwise", "softmax", bytes=softmax_bytes, selective_recompute=True),
    ]


def attention_ops(model: ModelSpec, w: Work, *, cross_kv_len: Num = 0) -> list[Op]:
    """Self-attention (or, with `cross_kv_len`, the cross-attention of an encoder-decoder's decoder layer:
    Q from the decoder, K and V from the encoder's `cross_kv_len` tokens) with its norm and residual."""
    cross = bool(cross_kv_len) if not hasattr(cross_kv_len, "shape") else True
    prefix = "cross_" if cross else ""
    t = w.tp
    q_dim, kv_dim = model.n_heads * model.d_head, model.n_kv_heads * model.d_head
    kv_len = cross_kv_len if cross else w.kv_len
    terms = _terms_by_op(
        attention_block_terms(model, w.act_shape(kv_len), cross=cross), _ATTENTION_TERM_OP, "norm"
    )
    ops = [norm_op(f"{prefix}norm", model, w, terms.get("norm"))]
    if model.is_mla and not cross:
        ops += _mla_projections(model, w, terms)
    elif cross:
        q = linear_params(d_in=model.d_model, d_out=q_dim, bias=model.bias)
        kv = linear_params(d_in=model.d_model, d_out=2 * kv_dim, bias=model.bias)
        ops += [
            gemm_op(
                "cross_q_proj",
                w,
                (w.tokens, model.d_model, q_dim / t),
                weights=Weights(q, q / t, "attention"),
                saved=terms.get("qkv_proj"),
                trainable=False,
            ),
            gemm_op(
                "cross_kv_proj",
                w,
                (w.batch * cross_kv_len, model.d_model, 2 * kv_dim / t),
                weights=Weights(kv, kv / t, "attention"),
                trainable=False,
            ),
        ]
    else:
        qkv = linear_params(d_in=model.d_model, d_out=q_dim + 2 * kv_dim, bias=model.bias)
        ops.append(
            gemm_op(
                "qkv_proj",
                w,
                (w.tokens, model.d_model, (q_dim + 2 * kv_dim) / t),
                weights=Weights(qkv, qkv / t, "attention"),
                saved=terms.get("qkv_proj"),
                trainable=False,
            )
        )
        if model.qk_norm:  # per-head RMSNorm of Q and K (Qwen3): d_head weights each, replicated over tp
            p = 2 * norm_params(d_model=model.d_head, rms=True, bias=False)
            elems = w.tokens * (model.n_heads + model.n_kv_heads) * model.d_head / t
            ops.append(
                Op(
                    "qk_norm",
                    "norm",
                    "elementwise",
                    flops=4 * elems,
                    bytes=2 * w.act_bytes * elems,
                    params=p,
                    params_local=p,
                    param_group="norms",
                )
            )
        if model.position == "rope":  # rotates Q and K in place: read and write both
            ops.append(
                Op(
                    "rope",
                    "elementwise",
                    "elementwise",
                    bytes=2 * w.act_bytes * w.tokens * (model.n_heads + model.n_kv_heads) * model.d_head / t,
                )
            )
    ops += _attention_core(
        prefix, model, w, kv_len, 1.0 if cross else w.causal_fraction, terms.get("core", {})
    )
    if not cross:
        ops.append(_ring_exchange(model, w))  # zero time when cp = 1
    v_dim = model.n_heads * model.value_head_dim
    out = linear_params(d_in=v_dim, d_out=model.d_model, bias=model.bias)
    out_bias = (
        model.bias * model.d_model
    )  # a row-parallel bias is added once, after the reduction: replicated
    ops += [
        gemm_op(
            f"{prefix}out_proj",
            w,
            (w.tokens, v_dim / t, model.d_model),
            weights=Weights(out, (out - out_bias) / t + out_bias, "attention"),
            saved=terms.get("out_proj"),
            trainable=False,
        ),
        _residual(f"{prefix}residual", model, w, terms.get("residual")),
        _tp_exchange(f"{prefix}tp_exchange", model, w),
    ]
    return ops


def _mla_projections(model: ModelSpec, w: Work, terms: Mapping[str, Mapping[str, Num]]) -> list[Op]:
    """MLA's projections (DeepSeek-V2 Sec. 2.1; the modules of transformers' DeepseekV3Attention): a query
    down-projection to rank r_q, its RMSNorm and the up-projection to every head's nope + rope parts (or
    one query projection without a query rank); a joint key-value down-projection to rank r_kv plus the
    decoupled rope key, its RMSNorm, and the up-projection to every head's key (nope part) and value. The
    down-projections and their norms are replicated over tensor parallelism, the up-projections split by
    head (Megatron-Core's MLA)."""
    t = w.tp
    heads_qk = model.n_heads * model.qk_head_dim
    rope, rank_kv = model.qk_rope_head_dim or 0, model.kv_lora_rank or 0
    rank_q = model.q_lora_rank
    ops: list[Op] = []
    if rank_q:
        down = linear_params(d_in=model.d_model, d_out=rank_q, bias=model.bias)
        up = linear_params(d_in=rank_q, d_out=heads_qk, bias=model.bias)
        ops += [
            gemm_op(
                "q_down_proj",
                w,
                (w.tokens, model.d_model, rank_q),
                weights=Weights(down, down, "attention"),
                saved=terms.get("qkv_proj"),
                trainable=False,
            ),
            _latent_norm("q_norm", model, w, rank_q),
            gemm_op(
                "q_up_proj",
                w,
                (w.tokens, rank_q, heads_qk / t),
                weights=Weights(up, up / t, "attention"),
                trainable=False,
            ),
        ]
    else:
        q = linear_params(d_in=model.d_model, d_out=heads_qk, bias=model.bias)
        ops.append(
            gemm_op(
                "q_proj",
                w,
                (w.tokens, model.d_model, heads_qk / t),
                weights=Weights(q, q / t, "attention"),
                saved=terms.get("qkv_proj"),
                trainable=False,
            )
        )
    kv_down = linear_params(d_in=model.d_model, d_out=rank_kv + rope, bias=model.bias)
    kv_up_width = model.n_heads * ((model.qk_nope_head_dim or 0) + model.value_head_dim)
    kv_up = linear_params(d_in=rank_kv, d_out=kv_up_width, bias=model.bias)
    ops += [
        gemm_op(
            "kv_down_proj",
            w,
            (w.tokens, model.d_model, rank_kv + rope),
            weights=Weights(kv_down, kv_down, "attention"),
            saved=terms.get("latent"),
            trainable=False,
        ),
        _latent_norm("kv_norm", model, w, rank_kv),
        gemm_op(
            "kv_up_proj",
            w,
            (w.tokens, rank_kv, kv_up_width / t),
            weights=Weights(kv_up, kv_up / t, "attention"),
            trainable=False,
        ),
        Op(
            "rope",
            "elementwise",
            "elementwise",
            bytes=2 * w.act_bytes * w.tokens * (model.n_heads / t + 1) * rope,
        ),
    ]
    return ops


def _latent_norm(name: str, model: ModelSpec, w: Work, width: Num) -> Op:
    """The RMSNorm of an MLA latent (replicated over tp): reads and writes the latent."""
    p = norm_params(d_model=width, rms=True, bias=False)
    return Op(
        name,
        "norm",
        "elementwise",
        flops=norm_flops(tokens=w.tokens, d_model=width, rms=True),
        bytes=2 * w.act_bytes * w.tokens * width,
        params=p,
        params_local=p,
        param_group="norms",
    )


def kv_width(model: ModelSpec) -> int:
    """Elements of K and V per token (all heads): 2·g·d, or MLA's per-head keys and values as trained."""
    if model.is_mla:
        return model.n_heads * (model.qk_head_dim + model.value_head_dim)
    return 2 * model.n_kv_heads * model.d_head


def _ring_exchange(model: ModelSpec, w: Work) -> Op:
    """Ring attention (Liu et al. 2023): c − 1 exchanges of the local K and V, each overlapped with one block
    of the attention computation; backward sends their gradients too (twice the bytes)."""
    kv = w.act_bytes * w.tokens * kv_width(model) / w.tp
    return Op(
        "cp_ring",
        "collective",
        "ring",
        bytes=kv,
        collective="ring",
        group="cp",
        group_size=w.cp,
        hidden_behind="attention",
    )


def _expert_share(model: ModelSpec, w: Work) -> tuple[Num, Num]:
    """(distinct local experts a micro-batch touches, tokens each of them sees). Routing is taken as uniform:
    the E/ep local experts receive b·s/c·k token copies in all; at decode only E·(1 − (1 − k/E)^n) of the
    experts are touched by the n tokens of the ep group (kvcache.experts_touched), all of them in training."""
    local = experts_touched(n_experts=model.n_experts, top_k=model.top_k, tokens=w.tokens * w.ep) / w.ep
    return local, w.tokens * model.top_k / local


@dataclass(frozen=True)
class FFNSpec:
    """`count` identical FFNs of width `d_ff` over `rows` tokens each, named with `prefix`: `total` FFNs of
    this kind exist in the model and `active` of them serve a token; `split` GPUs share their parameters
    (tp, or tp·ep for routed experts)."""

    prefix: str
    rows: Num
    d_ff: Num
    count: Num
    group: ParamGroup
    split: Num
    total: Num = 1
    active: Num = 1


def _ffn(model: ModelSpec, w: Work, f: FFNSpec, terms: Mapping[str, Mapping[str, Num]]) -> list[Op]:
    """FC1 (two halves when gated), the bias-activation kernel, FC2."""
    t = w.tp
    gated = 1 + model.gated_ffn
    fc1 = linear_params(d_in=model.d_model, d_out=gated * f.d_ff, bias=model.bias)
    fc2 = linear_params(d_in=f.d_ff, d_out=model.d_model, bias=model.bias)
    fc2_bias = model.bias * model.d_model  # row-parallel: replicated on every tp rank
    act = Op(
        f"{f.prefix}activation",
        "elementwise",
        "elementwise",
        bytes=w.act_bytes * f.rows * f.d_ff / t * (3 if model.gated_ffn else 2),
        count=f.count,
        saved_terms=dict(terms.get("activation", {})),
    )
    return [
        gemm_op(
            f"{f.prefix}fc1",
            w,
            (f.rows, model.d_model, gated * f.d_ff / t),
            count=f.count,
            weights=Weights(f.total * fc1, f.total * fc1 / f.split, f.group, f.active * fc1),
            saved=terms.get("fc1"),
            trainable=False,
        ),
        act,
        gemm_op(
            f"{f.prefix}fc2",
            w,
            (f.rows, f.d_ff / t, model.d_model),
            count=f.count,
            weights=Weights(
                f.total * fc2,
                f.total * ((fc2 - fc2_bias) / f.split + fc2_bias * t / f.split),
                f.group,
                f.active * fc2,
            ),
            saved=terms.get("fc2"),
            trainable=False,
        ),
    ]


def ffn_ops(model: ModelSpec, w: Work, *, moe: bool | None = None) -> list[Op]:
    """The FFN block: norm, FFN (or router, expert all-to-alls, routed and shared experts), residual, TP
    exchange. Routed experts sit on the ep group; each local expert's GEMMs see only its tokens (padded to
    `capacity_factor` × the average share when the model pads). `moe`: this layer's kind (default: the
    model's)."""
    moe = model.is_moe if moe is None else moe
    terms = _terms_by_op(ffn_block_terms(model, w.act_shape(), moe=moe), _FFN_TERM_OP, "norm")
    ops = [norm_op("ffn_norm", model, w, terms.get("norm"))]
    if not moe:
        ops += _ffn(model, w, FFNSpec("", w.tokens, model.d_ff, 1.0, "ffn", split=w.tp), terms)
    else:
        router = router_params(d_model=model.d_model, n_experts=model.n_experts)
        ops.append(
            Op(
                "router",
                "gemm",
                "frozen_gemm" if w.frozen else "gemm",
                flops=linear_flops(tokens=w.tokens, d_in=model.d_model, d_out=model.n_experts),
                bytes=gemm_bytes(w, w.tokens, model.d_model, model.n_experts),
                matmul=True,
                saved_terms=dict(terms.get("router", {})),
                high_precision=True,
                params=router,
                params_local=router,
                param_group="router",
            )
        )
        payload = w.act_bytes * w.tokens * model.top_k * model.d_model
        routing = (float(model.top_k), model.routed_nodes_limit)
        ops.append(
            Op(
                "ep_dispatch",
                "collective",
                "collective",
                bytes=payload,
                collective="all_to_all",
                group="ep",
                group_size=w.ep,
                routing=routing,
            )
        )
        touched, per_expert = _expert_share(model, w)
        padding = model.capacity_factor or 1.0
        experts = _ffn(
            model,
            w,
            FFNSpec(
                "experts_",
                per_expert * padding,
                model.d_ff_expert,
                touched,
                "experts",
                split=w.tp * w.ep,
                total=model.n_experts,
                active=model.top_k,
            ),
            terms,
        )
        # the local experts' GEMMs run as one grouped GEMM (Megatron-Core --moe-grouped-gemm, torchtitan's
        # grouped_mm, the fused MoE kernels of vLLM/TensorRT-LLM): one kernel, not one per expert
        ops += [replace(op, useful=1.0 / padding, grouped=True) if op.matmul else op for op in experts]
        ops.append(
            Op(
                "ep_combine",
                "collective",
                "collective",
                bytes=payload,
                collective="all_to_all",
                group="ep",
                group_size=w.ep,
                routing=routing,
            )
        )
        if model.shared_ffn_width:
            ops += _ffn(
                model,
                w,
                FFNSpec("shared_", w.tokens, model.shared_ffn_width, 1.0, "ffn", split=w.tp),
                {},
            )
    ops += [
        _residual("ffn_residual", model, w, terms.get("residual")),
        _tp_exchange("ffn_tp_exchange", model, w),
    ]
    return ops


def finetune_ops(model: ModelSpec, w: Work, *, cross: bool, moe: bool | None = None) -> list[Op]:
    """LoRA adapters (x·A then ·B for each adapted matrix; trained in full) and, for QLoRA, the
    dequantisation of every frozen 4-bit weight to 16 bits before its matmul (again for dgrad)."""
    ft = w.finetune
    if ft is None or not ft.frozen_base:
        return []
    t = w.tp
    ops: list[Op] = []
    for i, (d_in, d_out, copies) in enumerate(adapted_matrices(model, ft.targets, moe)):
        share = model.top_k / copies if copies > 1 else 1.0  # routed experts see their share of the tokens
        rows = w.tokens * share
        a = copies * linear_params(d_in=d_in, d_out=ft.rank, bias=0)
        b = copies * linear_params(d_in=ft.rank, d_out=d_out, bias=0)
        ops += [
            gemm_op(
                f"lora{i}_a", w, (rows, d_in, ft.rank), count=copies, weights=Weights(a, a / t, "adapters")
            ),
            gemm_op(
                f"lora{i}_b",
                w,
                (rows, ft.rank, d_out / t),
                count=copies,
                weights=Weights(b, b / t, "adapters"),
            ),
        ]
    if ft.method == "qlora":
        weights = layer_weight_params(model, cross=cross, moe=moe) / t
        ops.append(Op("qlora_dequant", "elementwise", "once", bytes=DEQUANT_BYTES_PER_PARAM * weights))
    return ops


def layer_weight_params(model: ModelSpec, *, cross: bool, moe: bool | None = None) -> Num:
    """All parameters of one layer (whole model, not split), from its ops: what QLoRA dequantises."""
    probe = Work(batch=1, q_len=1, kv_len=1)
    ops = (
        attention_ops(model, probe)
        + (attention_ops(model, probe, cross_kv_len=1) if cross else [])
        + ffn_ops(model, probe, moe=moe)
    )
    return sum(op.params for op in ops)


def layer_ops(model: ModelSpec, w: Work, *, cross_kv_len: Num = 0, moe: bool | None = None) -> list[Op]:
    """Every op of one layer: self-attention, cross-attention when `cross_kv_len`, FFN (dense or MoE as
    `moe` says, default the model's kind), adapters. The first op carries what full recomputation keeps:
    the layer's input (Chen et al. 2016)."""
    cross = bool(cross_kv_len) if not hasattr(cross_kv_len, "shape") else True
    ops = attention_ops(model, w)
    if cross:
        ops += attention_ops(model, w, cross_kv_len=cross_kv_len)
    ops += ffn_ops(model, w, moe=moe) + finetune_ops(model, w, cross=cross, moe=moe)
    ops[0] = replace(ops[0], saved_full=w.act_bytes * w.tokens * model.d_model * w.outside_tp)
    return ops
