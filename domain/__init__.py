"""etmad's pure domain: identifiers, aggregates, events and policies of the ETMAD.

Standard library and attrs only: no I/O, no clock, no randomness, no logging.
"""
