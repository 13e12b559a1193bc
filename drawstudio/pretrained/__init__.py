"""Trained models shipped with DRAW Studio: the catalogue of them (`catalog`), putting one to
work (`loading`), and keeping a run with the code as one of them (`keeping`)."""
