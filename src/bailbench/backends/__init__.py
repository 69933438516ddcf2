"""Model backends: each turns `Chat`s into replies (generate) and scores forced continuations (score)."""
