"""Tools that write a run out: PNG grids and GIFs, training timelapses, TensorBoard logs."""
