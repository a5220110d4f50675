"""etmad's application layer: use cases, ports, policies over events, on eventsourcing."""
