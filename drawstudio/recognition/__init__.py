"""A recogniser of what a conditional model drew, and class consistency measured with it."""
