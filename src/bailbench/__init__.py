"""bailbench: measure when language models choose to leave ("bail from") a conversation.

Implements the protocol of Ensign, Sleight & Fish (2025), "The LLM Has Left The Chat".
The pipeline reads top to bottom: datasets -> methods -> chat -> backends -> runner ->
store -> analysis; `bailbench.api` is the library entry point the CLI wraps.
"""

__version__ = "0.1.0"
