"""`drawstudio bench`: training speed against a textbook DRAW and the machine's matmul peak."""
