"""The machine under the engine: compute devices, CPU threads, crash-safe file writes and the
files shipped beside the code."""
