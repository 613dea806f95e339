"""The fused losses of `jitnet_loss_and_grad`: (a tile's outputs, its targets) -> seeds and the tile's loss, in IR.

SPEC §4's two losses, computed where the backward pass seeds Dn (`grad.py`),
after the tier's forward body has left the outputs in the tile, so a loss and
its gradients cost one pass of forward + backward and no numpy in between:

- "mse": loss 0.5 * sum (y - t)^2, dL/dy = y - t;
- "xent": softmax cross-entropy, loss sum t * (lse - y) with
  lse = top + log sum exp(y - top), top the row's largest output (no
  overflow for logits of +-1e4), dL/dy = softmax(y) * sum(t) - t, the
  softmax as exp(y - top) * (sum(t) / sum exp(y - top)).

Everything runs in float64 on whole tile rows (<L x double>, every lane a
sample), as `losses.loss_and_cotangent` computes in numpy: each output row
is widened from the dtype, dL/dy is rounded to the dtype once, and the loss
is added per lane into a float64 vector that the caller reduces once per
call. So a float32 dy has the bits numpy's dy has after its cast in nearly
every case, and float64 results differ from numpy's by a few ulps (sums over
outputs in order, numpy's pairwise; vmath's exp and log within ~1 ulp; the
softmax formed from the kept exps, where numpy takes exp(y - lse)).

The targets come in float64 whatever the dtype (`losses.check_target` makes
them so): rows (batch, n_outputs), or int64 class indices (batch,), which
become one-hot rows of the tile's target section. Lanes past the batch have
target 0 and outputs 0 (`grad._clear_padding`), so they add exactly 0 to the
loss and to the seeds.
"""

from llvmlite import ir

from . import abi, tile
from .tile import I64, PTR, counted_loop, entry_alloca
from .vmath import emit_exp, emit_log

F64 = ir.DoubleType()
ROW_ALIGN = abi.TILE_ALIGN  # a target row is L doubles, at a multiple of L elements of the dtype
SQUARE = 4  # doubles in one 256-bit vector: the side of the blocks targets are transposed in


def emit_seeds(ctx, target, kind, first, count, loss_lanes):
    """Seeds of one tile from the loss `kind` (`abi.LOSS_KINDS`) of its outputs against `target`.

    `ctx` is the backward pass's `GradContext` with its seeds zeroed; the
    tile's loss terms are added per lane into `loss_lanes`, a pointer to a
    <L x double>.
    """
    _load_targets(ctx, target, kind, first, count)
    bld = ctx.builder
    with bld.if_else(bld.icmp_signed("==", kind, I64(abi.LOSS_KINDS["mse", "rows"]))) as (mse, xent):
        with mse:
            _mse(_Rows(ctx), loss_lanes)
        with xent:
            _xent(_Rows(ctx), loss_lanes)


def lane_sum(bld: ir.IRBuilder, vector: ir.Value) -> ir.Value:
    """The sum of a vector's lanes, halves added pairwise (a fixed order)."""
    lanes = vector.type.count
    while lanes > 1:
        lanes //= 2
        low = bld.shuffle_vector(vector, vector, ir.Constant(ir.VectorType(tile.I32, lanes), list(range(lanes))))
        high = bld.shuffle_vector(vector, vector,
                                  ir.Constant(ir.VectorType(tile.I32, lanes), list(range(lanes, 2 * lanes))))
        vector = bld.fadd(low, high)
    return bld.extract_element(vector, tile.I32(0))


def _load_targets(ctx, target, kind, first, count):
    """ctx.targets[k][l] = t[first + l][k] in float64, 0 past the batch; class indices as one-hot rows."""
    bld = ctx.builder
    n_out = ctx.plan_slot(abi.PLAN_N_OUTPUTS, I64, "n_outputs")
    wide = ir.VectorType(F64, ctx.lanes)
    with counted_loop(bld, I64(0), n_out, "target_zero") as k:
        bld.store(ir.Constant(wide, None), _target_row(ctx, k), align=ROW_ALIGN)
    classes = bld.icmp_signed("==", kind, I64(abi.LOSS_KINDS["xent", "classes"]))
    with bld.if_else(classes) as (one_hot, rows):
        with one_hot:
            with counted_loop(bld, I64(0), count, "class_lane") as lane:
                at = bld.gep(target, [bld.add(first, lane)], inbounds=True, source_etype=I64)
                cls = bld.load(at, align=8, typ=I64)
                bld.store(ir.Constant(F64, 1.0), _target_cell(ctx, cls, lane), align=8)
        with rows:
            _load_target_rows(ctx, target, n_out, first, count)


def _load_target_rows(ctx, target, n_out, first, count):
    """ctx.targets[k][l] = t[first + l][k] from float64 rows (the rows zeroed).

    NOTE: as `tile.load_inputs` does: a full tile takes the targets in square
    blocks of SQUARE x SQUARE doubles (`tile.transpose`), the columns past
    the last block one vector of L loads each; a partial tile goes cell by
    cell and never reads past the batch.
    """
    bld = ctx.builder
    part = ir.VectorType(F64, SQUARE)
    with bld.if_else(bld.icmp_signed("==", count, I64(ctx.lanes))) as (whole, partial):
        with whole:
            column = bld.gep(target, [bld.mul(first, n_out)], inbounds=True, source_etype=F64)

            def at(lane, k):
                return bld.gep(column, [bld.add(bld.mul(I64(lane), n_out), k)], inbounds=True, source_etype=F64)

            blocks = bld.udiv(n_out, I64(SQUARE))
            with counted_loop(bld, I64(0), blocks, "target_block") as q:
                k0 = bld.mul(q, I64(SQUARE))
                rows = [_target_row(ctx, bld.add(k0, I64(c))) for c in range(SQUARE)]
                for group in range(0, ctx.lanes, SQUARE):
                    loaded = [bld.load(at(group + r, k0), align=8, typ=part) for r in range(SQUARE)]
                    for row, values in zip(rows, tile.transpose(bld, loaded)):
                        into = bld.gep(row, [I64(group)], inbounds=True, source_etype=F64)
                        bld.store(values, into, align=8 * SQUARE)
            with counted_loop(bld, bld.mul(blocks, I64(SQUARE)), n_out, "target_col") as k:
                vector = ir.Constant(ir.VectorType(F64, ctx.lanes), None)
                for lane in range(ctx.lanes):
                    vector = bld.insert_element(vector, bld.load(at(lane, k), align=8, typ=F64), tile.I32(lane))
                bld.store(vector, _target_row(ctx, k), align=ROW_ALIGN)
        with partial:
            with counted_loop(bld, I64(0), count, "target_lane") as lane:
                start = bld.mul(bld.add(first, lane), n_out)
                with counted_loop(bld, I64(0), n_out, "target") as k:
                    at = bld.gep(target, [bld.add(start, k)], inbounds=True, source_etype=F64)
                    bld.store(bld.load(at, align=8, typ=F64), _target_cell(ctx, k, lane), align=8)


def _target_row(ctx, k) -> ir.Value:
    return ctx.builder.gep(ctx.targets, [ctx.builder.mul(k, I64(ctx.lanes))], inbounds=True, source_etype=F64)


def _target_cell(ctx, k, lane) -> ir.Value:
    bld = ctx.builder
    return bld.gep(ctx.targets, [bld.add(bld.mul(k, I64(ctx.lanes)), lane)], inbounds=True, source_etype=F64)


class _Rows:
    """Output k's row y_k and target row t_k of the tile as <L x double>, and its seed update."""

    def __init__(self, ctx):
        self.ctx, self.bld = ctx, ctx.builder
        self.wide = ir.VectorType(F64, ctx.lanes)
        self.n_out = ctx.plan_slot(abi.PLAN_N_OUTPUTS, I64, "n_outputs")
        self.outputs = ctx.plan_slot(abi.PLAN_OUTPUTS, PTR, "outputs")
        self.seed_of = ctx.plan_slot(abi.PLAN_SEED_OF_OUTPUT, PTR, "seed_of_output")

    def y(self, k) -> ir.Value:
        row = self.ctx.load_row(tile.index_at(self.ctx, self.outputs, k))
        return row if row.type == self.wide else self.bld.fpext(row, self.wide)

    def t(self, k) -> ir.Value:
        return self.bld.load(_target_row(self.ctx, k), align=ROW_ALIGN, typ=self.wide)

    def exp_row(self, k) -> ir.Value:
        """Pointer to row k of the tile's exp rows (xent's e^(y_k - top))."""
        return self.bld.gep(self.ctx.exps, [self.bld.mul(k, I64(self.ctx.lanes))], inbounds=True, source_etype=F64)

    def add_seed(self, k, dy: ir.Value):
        """seeds[seed_of_output[k]] += dy rounded to the dtype: a neuron read out twice gets both."""
        ctx = self.ctx
        if dy.type != ctx.vector:
            dy = self.bld.fptrunc(dy, ctx.vector)
        row = tile.index_at(ctx, self.seed_of, k)
        ctx.store_row(self.bld.fadd(ctx.load_row(row, base=ctx.seeds), dy), row, base=ctx.seeds)

    def variable(self, name: str, start: float) -> ir.Value:
        """A <L x double> carried across the loops over outputs (promoted to a register by LLVM)."""
        slot = entry_alloca(self.bld, self.wide, name)
        self.bld.store(ir.Constant(self.wide, [start] * self.ctx.lanes), slot)
        return slot

    def add_to(self, slot, value: ir.Value):
        self.bld.store(self.bld.fadd(self.bld.load(slot, typ=self.wide), value), slot)


def _mse(rows: _Rows, loss_lanes):
    """dL/dy = y - t; the loss lanes get (y - t)^2 (halved once, at the end of the call)."""
    bld = rows.bld
    with counted_loop(bld, I64(0), rows.n_out, "mse") as k:
        diff = bld.fsub(rows.y(k), rows.t(k))
        rows.add_to(loss_lanes, bld.fmul(diff, diff))
        rows.add_seed(k, diff)


def _xent(rows: _Rows, loss_lanes):
    """Softmax cross-entropy: three sweeps of the outputs (top and sum t; exps and their sum; seeds
    and loss), one exp per output, kept in the tile's exp rows."""
    bld = rows.bld
    top, t_sum, exp_sum = (rows.variable(name, start) for name, start in
                           (("top", float("-inf")), ("t_sum", 0.0), ("exp_sum", 0.0)))
    with counted_loop(bld, I64(0), rows.n_out, "xent_top") as k:
        y, old = rows.y(k), bld.load(top, typ=rows.wide)
        # NOTE: a NaN output leaves top alone here, but its exp below is NaN: its row is NaN, as in numpy.
        bld.store(bld.select(bld.fcmp_ordered(">", y, old), y, old), top)
        rows.add_to(t_sum, rows.t(k))
    top_value = bld.load(top, typ=rows.wide)
    with counted_loop(bld, I64(0), rows.n_out, "xent_exp") as k:
        e = emit_exp(bld, bld.fsub(rows.y(k), top_value))
        bld.store(e, rows.exp_row(k), align=ROW_ALIGN)
        rows.add_to(exp_sum, e)
    # NOTE: log-sum-exp after subtracting the row's top: exp_sum >= 1 (the top's own term), so no
    # overflow for any finite logits and log's argument is a normal number.
    exp_sum_value = bld.load(exp_sum, typ=rows.wide)
    lse = bld.fadd(top_value, emit_log(bld, exp_sum_value))
    # NOTE: softmax * sum(t) as e^(y - top) * (sum(t) / exp_sum), where numpy takes e^(y - lse):
    # one exp per output instead of two (the exps cost ~8% of a small net's backward pass), and
    # the two forms differ by ~2 ulp of float64, below a float32 dy's rounding but near a tie.
    scale = bld.fdiv(bld.load(t_sum, typ=rows.wide), exp_sum_value)
    with counted_loop(bld, I64(0), rows.n_out, "xent_seed") as k:
        y, t = rows.y(k), rows.t(k)
        rows.add_to(loss_lanes, bld.fmul(t, bld.fsub(lse, y)))
        e = bld.load(rows.exp_row(k), align=ROW_ALIGN, typ=rows.wide)
        # NOTE: a multiply and a subtraction, not an fma: numpy's two roundings.
        rows.add_seed(k, bld.fsub(bld.fmul(e, scale), t))
