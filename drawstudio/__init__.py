"""DRAW Studio: train the DRAW model (Gregor et al. 2015) and watch it draw."""
