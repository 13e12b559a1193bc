"""DRAW Studio: train the DRAW model (Gregor et al. 2015) and watch it draw."""

import os

# OpenMP spins idle worker threads by default. When anything else wants the cores (the
# studio's GUI thread, a second run, a test), spinning threads starve the real work:
# measured on a busy 2-core machine, the paper model trained at 6 images/s with spinning
# threads and 94 with sleeping ones. Must be set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
