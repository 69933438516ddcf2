"""Load prompts and conversations: the paper's released datasets and the user's own files."""
