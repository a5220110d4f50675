"""Codecs of the formats etmad reads and writes (DUIS XML, GBCS)."""
