"""Compiled kernel of the tile-chain branch and bound (`tilechain_search.py` documents the method).

Longer than 400 lines because the compiled functions call one another and are compiled and
cached together by numba; splitting them across modules would not make any of them shorter.

Everything here works on plain arrays the Python side tabulates once per spatial candidate with
the cost model's own functions (`mapping.tile_boundary`, `cost_model.boundary_traffic`); the
kernel only composes those constants, in label form, with the latency recursion's own compiled
step and finish (`latency.slot_step`, `latency.finish`).

Array conventions
- tiles are numbered in mixed radix over each dim's divisor index; `tile_prod[t]` is the tile's
  product of factors; `trans_*[trans_start[t]:trans_start[t + 1]]` list the loops that can be
  added outside tile t: dim, factor, resulting tile;
- an operand state is (depth of the current block's level, child depth of the boundary waiting
  for its trigger or -1, that boundary double-buffered, partial sums in the last output boundary);
- label columns: see the L_* constants; double-buffered boundaries own two columns (W, B) each,
  at `db_col[o, child depth]`.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit, objmode, types
from numba.core import cgutils
from numba.extending import intrinsic

from miredo_core.latency import finish, slot_step

L_E, L_EP, L_S, L_C, L_CASC, L_FL, L_ENERGY, L_GB, L_DB = 0, 1, 2, 5, 8, 11, 14, 15, 16
#: Label columns in the order a dominance test compares them: the ones that most often show a
#: stored vector is not <= a new one come first (measured on ResNet-18 dives: E, S_I, FL_I,
#: S_O and C_O decide about nine comparisons in ten), so most rows are told apart after one or
#: two columns. Ep (never larger than E) and the input and weight cascades come last. The order
#: changes no answer, only how soon a comparison ends.
DECIDING_COLUMNS = (L_E, L_S, L_FL, L_S + 2, L_C + 2, L_FL + 2, L_C, L_ENERGY, L_FL + 1,
                    L_S + 1, L_C + 1, L_CASC + 2, L_GB)  # fmt: skip
OUT = 2  # the output operand's index
#: Most block choices of one operand before a loop: keep it open, or close it into one of up to
#: three outer levels, single- or double-buffered.
MAX_CHOICES = 8
#: Distinct operand states (level 0..3, waiting child -1..3, double-buffered, partial sums).
OPS_CODES = 4 * 5 * 2 * 2

# Indices into the float parameter vector.
P_TOTAL, P_FLOOR, P_MAC, P_LEAK, P_GB_SIZE, P_OBJECTIVE, P_DRAM_PJ = 0, 1, 2, 3, 4, 5, 6
# params[P_DRAM_PJ + o]: energy of moving operand o's data across its DRAM boundary once.
# Indices into the mutable state vector.
(
    S_UPPER,
    S_THRESHOLD,
    S_TOLERANCE,
    S_DEADLINE,
    S_NODES,
    S_STOPPED,
    S_STORED,
    S_BEST_DEPTH,
    S_PRUNED_MIN,
    S_NODE_LIMIT,
    S_OPEN_MIN,
    S_POLL,
    S_NEXT_POLL,
    S_TOP,
) = range(14)
#: Length of the state vector.
STATE_SIZE = 14
# S_PRUNED_MIN: the smallest completion bound of a node pruned by the threshold; every pruned
# completion costs at least this much.
# S_STOPPED: 0 while running; STOP_BUDGET when the node limit (or a child buffer) ran out, which
# depends only on the inputs; STOP_INTERRUPT when `poll` asked to stop (deadline or cancel).
# S_OPEN_MIN: once stopped, the smallest bound of the nodes left open (the node being entered and,
# at every depth of the stack, the child being visited, whose bound is the smallest of the
# children not visited yet: they are visited in increasing bound order).
# S_TOP: the dominance store's first unused row (`_dominated`).
# S_POLL: 1 if `poll` is consulted (every POLL_NODES nodes, from node S_NEXT_POLL on), 0 if
# nothing can interrupt the search.
STOP_BUDGET, STOP_INTERRUPT = 1.0, 2.0
#: Nodes between two checks of the deadline and the stop hook (about 0.1 s of search).
POLL_NODES = 16384
#: The stop hook: a callable returning True when the search must stop (a cancel event of this
#: process, or of the parent process in a certifier worker), or None.
STOP_HOOK: list = [None]


def poll(deadline: float) -> float:
    """1.0 if the search must stop now: past `deadline` (time.monotonic()) or the hook says so."""
    hook = STOP_HOOK[0]
    if time.monotonic() > deadline or (hook is not None and hook()):
        return 1.0
    return 0.0


@njit(cache=True, inline="always")
def _value(params, latency, energy):
    if params[P_OBJECTIVE] == 0:
        return latency
    total = energy + params[P_MAC] + params[P_LEAK] * latency
    if params[P_OBJECTIVE] == 1:
        return total
    return total * latency


@njit(cache=True, inline="always")
def _bound(params, remaining, lab, r, ops, q, tile, geo, distinct, chains):
    """Completion bound of the partial mapping of labels lab[r] and operand states ops[q]
    (proof in `tilechain_search.py`)."""
    energy = lab[r, L_ENERGY]
    for o in range(3):
        if ops[q, o, 0] > 0 or ops[q, o, 1] >= 0:  # o's DRAM boundary is still to come
            energy += params[P_DRAM_PJ + o]
    c_star = max(lab[r, L_C], lab[r, L_C + 1], lab[r, L_C + 2])
    # A single-buffered boundary waiting for its trigger fires at a later slot t; the loops
    # between here and t are irrelevant to its operand, so slot t and every slot outside it
    # iterate at least distinct[o, tile] times, each with a serial chain of at least X + S_o
    # (I/W; the single-buffered sum C_O for outputs).
    extra = 0.0
    # The cycles the boundaries still to come add to each operand's cascade: the waiting one
    # (its tile is the current one), then a chain from the current level up to DRAM, each of
    # whose tiles holds the current one (`chains`).
    ahead_i = ahead_w = ahead_o = 0.0
    for o in range(3):
        level, pending = ops[q, o, 0], ops[q, o, 1]
        ahead = chains[o, level, tile]
        if pending >= 0:
            waiting = geo[o, level, pending, 0, tile, 0]
            if o == OUT:
                waiting = min(waiting, geo[o, level, pending, 1, tile, 0])
            ahead += waiting
            if ops[q, o, 2] == 0 and distinct[o, tile] > 1:
                x = geo[o, level, pending, 0, tile, 1]
                chain = x + (lab[r, L_C + o] if o == OUT else lab[r, L_S + o])
                if chain > c_star:
                    extra = max(extra, (distinct[o, tile] - 1) * (chain - c_star))
        if o == 0:
            ahead_i = ahead
        elif o == 1:
            ahead_w = ahead
        else:
            ahead_o = ahead
    e0 = max(remaining * lab[r, L_E],
             remaining * lab[r, L_EP] + (remaining - 1) * c_star + extra)  # fmt: skip
    startup = max(lab[r, L_CASC] + ahead_i, lab[r, L_CASC + 1] + ahead_w)
    wb = lab[r, L_CASC + 2] + ahead_o
    latency = max(startup + e0 + wb, lab[r, L_FL] + ahead_i + wb,
                  lab[r, L_FL + 1] + ahead_w + wb, startup + lab[r, L_FL + 2] + ahead_o,
                  params[P_FLOOR])  # fmt: skip
    return _value(params, latency, energy)


#: Label vectors one key's list keeps: a node scans its key's list, and on large layers, whose
#: stores grew to hundreds of thousands of vectors, nodes ran up to twenty times slower. Beyond it
#: a new vector is still checked against the list but not stored: the search stays exact and
#: prunes a little less.
KEY_LABELS = 512
#: Rows a key's segment of the store starts with; a full segment moves to the top of the store
#: with twice the room.
SEGMENT_ROWS = 2
#: Store rows per label vector the store may hold: a key whose list once held p vectors has used
#: at most 2 + 4 + ... + c < 2 c rows, c < max(2, 2 p) being its last room, so at most 4 p.
ROWS_PER_LABEL = 4


@njit(cache=True, inline="always")
def _row_le(store, r, lab, cols):
    """Whether stored vector r is <= `lab` on every compared column (store row r holds the
    `cols` entries in that order)."""
    for j in range(cols.shape[0]):
        if store[r, j] > lab[cols[j]]:
            return False
    return True


@njit(cache=True, inline="always")
def _lab_le(store, r, lab, cols):
    """Whether `lab` is <= stored vector r on every compared column."""
    for j in range(cols.shape[0]):
        if lab[cols[j]] > store[r, j]:
            return False
    return True


@njit(cache=True)
def _dominated(key, lab, cols, index, store, seg, state):
    """True if a stored label vector of `key` is <= `lab` on `cols`; otherwise store `lab`
    (dropping the stored vectors it dominates) while the store and the key's list have room.

    Layout: `index` maps a key to its slot; `seg[slot]` = (first row, vectors, rows of room) of
    the key's contiguous segment of `store`, whose row r holds a vector's `cols` entries in that
    order, so a key's vectors are read in sequence. `seg` has one row per vector the store may
    hold (a key gets its slot when its first vector is stored), `store` ROWS_PER_LABEL times as
    many rows (`state[S_TOP]`: the first row no segment has used).

    A key's vectors are mutually undominated (a vector is stored only if none dominates it, and
    storing it drops those it dominates), so if `lab` dominates one of them, none dominates
    `lab`: the scan stops there. The answer and the vectors kept are those of any scan order."""
    slot = -1
    if key in index:
        slot = index[key]
    start = 0
    length = 0
    if slot >= 0:
        start = seg[slot, 0]
        length = seg[slot, 1]
    dominates = False
    for r in range(start + length - 1, start - 1, -1):  # newest first: they dominate most often
        if _row_le(store, r, lab, cols):
            return True
        if _lab_le(store, r, lab, cols):
            dominates = True
            break
    count = int(state[S_STORED])
    if count >= seg.shape[0] or length >= KEY_LABELS:
        return False
    if dominates:
        kept = start
        for r in range(start, start + length):
            if not _lab_le(store, r, lab, cols):
                if kept != r:
                    store[kept, :] = store[r, :]
                kept += 1
        length = kept - start
    room = 0
    if slot < 0:
        slot = len(index)
        index[key] = slot
    else:
        room = seg[slot, 2]
    if length >= room:
        room = max(SEGMENT_ROWS, 2 * room)
        top = int(state[S_TOP])
        if top + room > store.shape[0]:  # never: see ROWS_PER_LABEL
            return False
        store[top : top + length, :] = store[start : start + length, :]
        start = top
        state[S_TOP] = top + room
    for j in range(cols.shape[0]):
        store[start + length, j] = lab[cols[j]]
    seg[slot, 0] = start
    seg[slot, 1] = length + 1
    seg[slot, 2] = room
    state[S_STORED] = count + 1
    return False


@njit(cache=True, inline="always")
def _resolve(o, parent, child, db, partial, t, firings, distinct, psum, e_before, lab, r,
             geo, resident, sizes, gb_depth, params):  # fmt: skip
    """Charge operand o's boundary parent -> child of tile t (trigger reached, or the end when
    e_before < 0). Returns its firing time, or -1 if its child level overflows."""
    p = 1 if psum else 0
    need = resident[o, child, 1 if (psum or partial) else 0, t] * (2.0 if db else 1.0)
    if child == gb_depth:
        if lab[r, L_GB] + need > params[P_GB_SIZE]:
            return -1.0
        lab[r, L_GB] += need
    elif need > sizes[o, child]:
        return -1.0
    cycles = geo[o, parent, child, p, t, 0]
    fire = geo[o, parent, child, p, t, 1]
    revisits = firings - distinct if psum else 0.0
    lab[r, L_ENERGY] += (
        firings * geo[o, parent, child, p, t, 2] + revisits * geo[o, parent, child, p, t, 3]
    )
    lab[r, L_CASC + o] += cycles
    lab[r, L_FL + o] += cycles
    if db and e_before >= 0:
        if o == OUT:
            work = (firings - 1) * fire + cycles
        else:
            work = firings * fire
        lab[r, L_FL + o] = max(lab[r, L_FL + o], work + e_before)
    return fire


@njit(cache=True, inline="always")
def _advance(tile, new_tile, k, f, ops, new_ops, n, lab, out, tables, params, scratch,
             depth):  # fmt: skip
    """Add loop (dim k, factor f) outside `tile`; write the new labels and operand states to
    out[n] and new_ops[n] (scratch[depth]: work space). False if a capacity rule fails."""
    (tile_prod, psum_above, distinct, relevant, geo, resident, sizes, db_col,
     gb_depth, chains) = tables  # fmt: skip
    out[n, :] = lab
    new_ops[n, :, :] = ops
    e_before = lab[L_E]
    firings = params[P_TOTAL] / tile_prod[tile]
    n_db = db_col.shape[1]
    for o in range(3):
        d, pending, db, below = ops[o, 0], ops[o, 1], ops[o, 2] == 1, ops[o, 3] == 1
        x = 0.0
        if pending >= 0 and relevant[o, k]:
            psum = o == OUT and psum_above[new_tile]
            x = _resolve(o, d, pending, db, below, tile, firings, distinct[o, tile], psum,
                         e_before, out, n, geo, resident, sizes, gb_depth, params)  # fmt: skip
            if x < 0:
                return False
            new_ops[n, o, 1] = -1
            new_ops[n, o, 2] = 0
            new_ops[n, o, 3] = 1 if (o == OUT and psum) else 0
        max_w = 0.0
        max_b = 0.0
        for i in range(n_db):
            c = db_col[o, i]
            if c >= 0:
                max_w = max(max_w, out[n, c])
                max_b = max(max_b, out[n, c + 1])
        s_o = out[n, L_S + o]
        c_o = out[n, L_C + o]
        drained = 0.0
        if x > 0 and db:
            serial = c_o
            channel = max(x, max_w)
            out[n, db_col[o, pending]] = x
        elif x > 0:
            serial = x + s_o
            channel = max_w
            drained = x + max_w if max_w > 0 else 0.0
            out[n, L_C + o] = c_o + x if o == OUT else x + s_o
        else:
            serial = c_o
            channel = max_w
        scratch[depth, 0, o] = serial
        scratch[depth, 1, o] = channel
        scratch[depth, 2, o] = max_b
        scratch[depth, 3, o] = drained
        out[n, L_S + o] = s_o + x
    d = depth
    out[n, L_EP], out[n, L_E], _, _ = slot_step(
        scratch[d, 0, 0], scratch[d, 0, 1], scratch[d, 0, 2], scratch[d, 1, 0], scratch[d, 1, 1],
        scratch[d, 1, 2], scratch[d, 2, 0], scratch[d, 2, 1], scratch[d, 2, 2], scratch[d, 3, 0],
        scratch[d, 3, 1], scratch[d, 3, 2], f, out[n, L_EP], out[n, L_E])  # fmt: skip
    for o in range(3):
        for i in range(n_db):
            c = db_col[o, i]
            if c >= 0 and out[n, c] > 0:
                w = out[n, c]
                out[n, c] = w * f
                out[n, c + 1] += w * (f - 1)
    return True


@njit(cache=True, inline="always")
def _leaf(tile, ops, lab, out, r, depth, tables, params, state, path_k, path_f, path_ops,
          best_k, best_f, best_ops, best_final):  # fmt: skip
    (tile_prod, psum_above, distinct, relevant, geo, resident, sizes, db_col,
     gb_depth, chains) = tables  # fmt: skip
    out[r, :] = lab
    for o in range(3):
        d, pending, db, below = ops[o, 0], ops[o, 1], ops[o, 2] == 1, ops[o, 3] == 1
        if d > 0:
            if pending >= 0:
                return
            if _resolve(o, 0, d, False, below, tile, 1.0, 1.0, False, -1.0, out, r, geo,
                        resident, sizes, gb_depth, params) < 0:  # fmt: skip
                return
        elif pending >= 0:
            if _resolve(o, 0, pending, db, below, tile, 1.0, 1.0, False, -1.0, out, r, geo,
                        resident, sizes, gb_depth, params) < 0:  # fmt: skip
                return
    latency = finish(out[r, L_CASC : L_CASC + 3], out[r, L_E], out[r, L_FL : L_FL + 3])[0]
    value = _value(params, latency, out[r, L_ENERGY])
    if value < state[S_UPPER]:
        state[S_UPPER] = value
        state[S_THRESHOLD] = (1.0 - state[S_TOLERANCE]) * value
        state[S_BEST_DEPTH] = depth
        best_k[:depth] = path_k[:depth]
        best_f[:depth] = path_f[:depth]
        best_ops[:depth] = path_ops[:depth]
        best_final[:, :] = ops


@njit(cache=True)
def _stop_check(state, bound):
    """Whether the search stops at a node of completion bound `bound` (recorded as open)."""
    if state[S_STOPPED] == 0 and state[S_NODES] >= state[S_NODE_LIMIT]:
        state[S_STOPPED] = STOP_BUDGET
    if state[S_STOPPED] == 0 and state[S_POLL] > 0 and state[S_NODES] >= state[S_NEXT_POLL]:
        state[S_NEXT_POLL] = state[S_NODES] + POLL_NODES
        deadline = state[S_DEADLINE]
        with objmode(stop="float64"):
            stop = poll(deadline)
        if stop > 0:
            state[S_STOPPED] = STOP_INTERRUPT
    if state[S_STOPPED] > 0:
        state[S_OPEN_MIN] = min(state[S_OPEN_MIN], bound)
        return True
    return False


@njit(cache=True, inline="always")
def _open(depth, tile, floor, labs, opss, cut_ops, tables, trans, params, cols, choices_buf,
          index, store, seg, state, path_k, path_f, path_ops,
          best_k, best_f, best_ops, best_final, eligible, counts, scratch, kids):  # fmt: skip
    """Enter one node at `depth` (labels and operand states in labs/opss[depth]); `floor` is a
    lower bound of its completions known from its ancestors (the bound used is the larger of it
    and the node's own, so bounds never fall with depth). Returns how many children are to be
    visited, their indices into the depth's child buffers in `kids[5][depth]`, best bound first;
    0 if the node is pruned, dominated, a leaf or where the search stopped."""
    state[S_NODES] += 1
    (tile_prod, psum_above, distinct, relevant, geo, resident, sizes, db_col,
     gb_depth, chains) = tables  # fmt: skip
    trans_start, trans_k, trans_f, trans_to = trans
    lab = labs[depth]
    ops = opss[depth]
    remaining = params[P_TOTAL] / tile_prod[tile]
    bound = max(floor, _bound(params, remaining, labs, depth, opss, depth, tile, geo,
                              distinct, chains))  # fmt: skip
    # The budget is checked first, so a search never counts more nodes than its budget (a
    # node it stops at is left open with its bound, which is valid whether or not it prunes).
    if _stop_check(state, bound):
        return 0
    if bound >= state[S_THRESHOLD]:
        state[S_PRUNED_MIN] = min(state[S_PRUNED_MIN], bound)
        return 0
    key = tile
    for o in range(3):
        code = ((ops[o, 0] * 5 + ops[o, 1] + 1) * 2 + ops[o, 2]) * 2 + ops[o, 3]
        key = key * OPS_CODES + code
    if _dominated(key, lab, cols, index, store, seg, state):
        return 0
    if remaining == 1.0:
        _leaf(tile, ops, lab, labs, depth + 1, depth, tables, params, state, path_k, path_f,
              path_ops, best_k, best_f, best_ops, best_final)  # fmt: skip
        return 0
    # Per operand: keep the block open, or close it (if allowed) into any outer level.
    choices = choices_buf[depth]
    n_choices = counts[depth]
    for o in range(3):
        d, pending, below = ops[o, 0], ops[o, 1], ops[o, 3]
        choices[o, 0, :] = ops[o]
        n = 1
        if d > 0 and pending < 0:
            for db in range(2 if eligible[o, d] else 1):
                need = resident[o, d, below, tile] * (2.0 if db else 1.0)
                if d == gb_depth:
                    if lab[L_GB] + need > params[P_GB_SIZE]:
                        continue
                elif need > sizes[o, d]:
                    continue
                for parent in range(d):
                    choices[o, n, 0] = parent
                    choices[o, n, 1] = d
                    choices[o, n, 2] = db
                    choices[o, n, 3] = below
                    n += 1
        n_choices[o] = n
    # Generate every child, then visit them best bound first: good partial mappings are stored
    # early and dominate the rest, and improving leaves are found sooner.
    cut = cut_ops[depth]
    kids_lab, kids_ops, kids_cut = kids[0][depth], kids[1][depth], kids[2][depth]
    kids_int, kids_bound = kids[3][depth], kids[4][depth]
    n_kids = 0
    for a in range(n_choices[0]):
        for b in range(n_choices[1]):
            for c in range(n_choices[2]):
                cut[0, :] = choices[0, a]
                cut[1, :] = choices[1, b]
                cut[2, :] = choices[2, c]
                for j in range(trans_start[tile], trans_start[tile + 1]):
                    if n_kids >= kids_lab.shape[0]:
                        # Never drop a child silently: the node stays open instead.
                        state[S_STOPPED] = STOP_BUDGET
                        state[S_OPEN_MIN] = min(state[S_OPEN_MIN], bound)
                        return 0
                    k = trans_k[j]
                    f = trans_f[j]
                    new_tile = trans_to[j]
                    if _advance(tile, new_tile, k, f, cut, kids_ops, n_kids, lab, kids_lab,
                                tables, params, scratch, depth):  # fmt: skip
                        kids_cut[n_kids, :, :] = cut
                        kids_int[n_kids, 0] = k
                        kids_int[n_kids, 1] = j
                        kids_int[n_kids, 2] = new_tile
                        kids_bound[n_kids] = max(bound, _bound(
                            params, params[P_TOTAL] / tile_prod[new_tile], kids_lab, n_kids,
                            kids_ops, n_kids, new_tile, geo, distinct, chains))  # fmt: skip
                        n_kids += 1
    kids[5][depth, :n_kids] = np.argsort(kids_bound[:n_kids])
    return n_kids


@intrinsic
def _borrowed(typingctx, array):
    """`array` without its reference count: the same data, shape and strides, no meminfo.

    numba counts references to every array a compiled function binds to a name (an argument, an
    unpacked tuple, an inlined call's parameter), with an atomic operation each time; the
    search, which binds its tables afresh at every node and child, made about 155 of them a
    node (counted with NUMBA_DEBUG_NRT on a ResNet-18 search). A borrowed array is bound with
    no atomic operation. It is valid while its owner lives:
    `_expand` borrows its arguments, which the caller holds until it returns, and nothing it
    computes keeps a reference to them past its return."""
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, signature, args):
        view = cgutils.create_struct_proxy(array)(context, builder, value=args[0])
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()

    return array(array), codegen


@njit(cache=True)
def _expand(floor, labs, opss, cut_ops, tables, trans, params, cols, choices_buf,
            index, store, seg, state, path_k, path_f, path_ops,
            best_k, best_f, best_ops, best_final, eligible, counts, scratch, kids):  # fmt: skip
    """The search (`_search`) on borrowed arrays (`_borrowed`)."""
    b = _borrowed
    t, k = tables, kids
    _search(floor, b(labs), b(opss), b(cut_ops),
            (b(t[0]), b(t[1]), b(t[2]), b(t[3]), b(t[4]), b(t[5]), b(t[6]), b(t[7]), t[8],
             b(t[9])),
            (b(trans[0]), b(trans[1]), b(trans[2]), b(trans[3])), b(params), b(cols),
            b(choices_buf), index, b(store), b(seg), b(state), b(path_k), b(path_f),
            b(path_ops), b(best_k), b(best_f), b(best_ops), b(best_final), b(eligible),
            b(counts), b(scratch),
            (b(k[0]), b(k[1]), b(k[2]), b(k[3]), b(k[4]), b(k[5]), b(k[6])))  # fmt: skip


@njit(cache=True)
def _search(floor, labs, opss, cut_ops, tables, trans, params, cols, choices_buf,
            index, store, seg, state, path_k, path_f, path_ops,
            best_k, best_f, best_ops, best_final, eligible, counts, scratch, kids):  # fmt: skip
    """Depth-first search from the root (labs/opss[0], tile 0) whose completions cost at least
    `floor`: each node's children are visited best bound first (`_open`).

    `kids[5][d]` lists the children of the node open at depth d in visiting order and
    `kids[6][d]` = (next position in that list, its length). A child whose bound reaches the
    threshold is pruned without being entered (and counted as a node). Once stopped, every node
    on the path stays open with the bound of the child it was visiting, the smallest of the
    children not visited yet (they are visited in increasing bound order); the nodes below it
    already recorded theirs."""
    trans_f = trans[2]
    order, stack = kids[5], kids[6]
    kids_lab, kids_ops, kids_cut, kids_int, kids_bound = kids[0], kids[1], kids[2], kids[3], kids[4]
    depth = 0
    tile = 0
    while True:
        n = _open(depth, tile, floor, labs, opss, cut_ops, tables, trans, params, cols,
                  choices_buf, index, store, seg, state, path_k, path_f, path_ops, best_k,
                  best_f, best_ops, best_final, eligible, counts, scratch, kids)  # fmt: skip
        if n > 0:
            stack[depth, 0] = 0
            stack[depth, 1] = n
        else:
            depth -= 1
        # Find the next child to enter, returning from nodes whose children are all visited.
        entered = False
        while depth >= 0 and not entered:
            if state[S_STOPPED] > 0:
                for d in range(depth, -1, -1):
                    m = order[d, stack[d, 0] - 1]
                    state[S_OPEN_MIN] = min(state[S_OPEN_MIN], kids_bound[d, m])
                return
            if stack[depth, 0] >= stack[depth, 1]:
                depth -= 1
                continue
            m = order[depth, stack[depth, 0]]
            stack[depth, 0] += 1
            child_bound = kids_bound[depth, m]
            if child_bound >= state[S_THRESHOLD]:
                if _stop_check(state, child_bound):
                    # The node returns; its ancestors record the children they visit.
                    depth -= 1
                    continue
                state[S_PRUNED_MIN] = min(state[S_PRUNED_MIN], child_bound)
                state[S_NODES] += 1
                continue
            labs[depth + 1, :] = kids_lab[depth, m]
            opss[depth + 1, :, :] = kids_ops[depth, m]
            path_k[depth] = kids_int[depth, m, 0]
            path_f[depth] = trans_f[kids_int[depth, m, 1]]
            path_ops[depth, :, :] = kids_cut[depth, m]
            tile = kids_int[depth, m, 2]
            floor = child_bound
            depth += 1
            entered = True
        if not entered:
            return
