"""The command-line face: `drawstudio` and its verbs."""
