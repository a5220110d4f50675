"""Typed errors of the application: a command is rejected with a stable code, never half-done."""

from __future__ import annotations


class CommandRejected(Exception):  # noqa: N818 — reads as the fact it reports
    """A command was refused; nothing it would have recorded was saved."""

    def __init__(self, code: str, message: str, *, clause: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.clause = clause


class UnknownDevice(CommandRejected):
    def __init__(self, device_id: object) -> None:
        super().__init__("UNKNOWN_DEVICE", f"no Device {device_id} is registered")


class UnknownDeviceModel(CommandRejected):
    def __init__(self, model: object) -> None:
        super().__init__("UNKNOWN_DEVICE_MODEL", f"no Device Model {model} is registered")


class ConcurrencyConflict(CommandRejected):
    """Another writer recorded events on an aggregate this command writes to; retry it."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            "CONCURRENCY_CONFLICT",
            f"another writer changed an aggregate this command writes to; nothing was saved "
            f"(retry on fresh state): {detail}",
        )


class RegistrationConflict(CommandRejected):
    """Registration Data already holds a different supplier for that MPxN and time."""

    def __init__(self, detail: str) -> None:
        super().__init__("SUPPLIER_CHANGE_CONFLICT", detail)
