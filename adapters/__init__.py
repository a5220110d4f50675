"""etmad's adapters: storage, the command interface, the CLI and the composition root."""
