"""How many processes (data-parallel ranks) `drawstudio train` trains in when the user leaves
the choice to us (no `--ranks`).

The rule: the most ranks, up to one per core other processes leave free, whose equal slices of
the batch each carry at least MIN_RANK_GFLOP of matrix products a step; one process (on the
thread rule, threads.py) where no number of ranks does. Ranks compute one process's gradient up
to the order of summation (tests/test_ranks.py), so the rule decides speed, not what is learned.

Why a threshold on each rank's work, measured by `drawstudio bench` on 2-vCPU machines (two
ranks of one thread against one process of two threads, the same global batch; GFLOP a rank a
step in brackets; each figure one bench run):

    paper:128 (23.7)   AMD EPYC 1.15× 1.49×    Intel Xeon 1.16× 1.29× 0.96×
    paper:64  (11.9)   AMD EPYC 1.03× 1.03×
    small:128  (6.0)   AMD EPYC 1.12× 0.81×
    small:64   (3.0)   AMD EPYC 0.91× 1.01×    Intel Xeon 0.99× 0.90× 0.96×

The threads of one process wait for each other at every operation, ranks only when the gradients
are averaged; with a small share of the batch, a rank's step is mostly per-operation overhead,
which ranks do not share out, plus the exchange itself. Only the paper's model at batch 128 gained
in most runs, so the line sits between it and the paper's model at batch 64.
"""

from __future__ import annotations

MIN_RANK_GFLOP = 20.0  # matrix-product GFLOP a rank's slice of one training step must carry


def ranks_for(free_cores: int, batch_size: int, gflop_per_image: float) -> int:
    """The most ranks, up to `free_cores`, that split `batch_size` evenly into slices of at least
    MIN_RANK_GFLOP a step each; 1 (one process) when no number of ranks from 2 up does."""
    for ranks in range(free_cores, 1, -1):
        if batch_size % ranks == 0 and batch_size // ranks * gflop_per_image >= MIN_RANK_GFLOP:
            return ranks
    return 1
