"""A CoS or TCoS Party's limited view of the DSP (DOMAIN.md 1), on an ``EtmadApplication``:
the ``DspLookup`` port of ``application.srv623_ports``.

What it reads, and from where:

* **MPxN ↔ Party Details**: the Responsible Supplier's MPID on a date, from Registration Data
  (``app.registration.supplier_history`` and ``domain.registration.supplier_on``: the latest
  change effective by then, future-dated changes included, SRPD 8.1A(b)(iv)).
* **Party Details ↔ User ID**: the MPIDs of the Party whose User ID is given
  (``app.party_details``); None when the application holds no Party Details at all, so that
  "no Party Details held" is told apart from "a User ID with no MPID" (empty).
* **MPxN ↔ Device**: the Smart Metering Inventory, the Device aggregate's ``mpxn``.
* the Device's SMETS generation, its Device Model's (``smets1``): the CoS Party's source for
  8.2(a) (SMETS2+) against 8.2(b) (SMETS1), which the Countersigned CoS Service Request does
  not carry.
"""

from __future__ import annotations

from datetime import datetime

from application.errors import UnknownDevice, UnknownDeviceModel
from application.service import EtmadApplication
from domain.device import Device, device_aggregate_id
from domain.device_model import DeviceModel, model_aggregate_id
from domain.events import utc
from domain.identifiers import EUI64, MPxN, SmetsGeneration
from domain.registration import supplier_on


class ApplicationDspLookup:
    """``DspLookup`` on ``app``'s Registration Data, Party Details and Smart Metering
    Inventory (DOMAIN.md 1). Reads only: it records nothing."""

    def __init__(self, app: EtmadApplication) -> None:
        self._app = app

    def responsible_supplier(self, mpxn: MPxN, on: datetime) -> str | None:
        """The MPID Registration Data names as Responsible Supplier of ``mpxn`` on ``on``
        (None: none is named by then)."""
        return supplier_on(self._app.registration.supplier_history(mpxn), utc(on))

    def mpids_of(self, user_id: EUI64) -> frozenset[str] | None:
        """The MPIDs Party Details give the Party whose User ID is ``user_id``; None when no
        Party Details are held."""
        details = self._app.party_details
        if details is None:
            return None
        return frozenset(details.mpids_of(user_id))

    def mpxn_of(self, device: EUI64) -> MPxN | None:
        """The MPxN the Smart Metering Inventory associates with ``device`` (None: the Device
        is not in it, or has no MPxN)."""
        state = self._device(device)
        return None if state is None else state.mpxn

    def smets1(self, device: EUI64) -> bool:
        """Whether ``device``'s Device Model is SMETS1 (SRPD 8.2(b)) rather than SMETS2+
        (8.2(a)). Raises ``UnknownDevice`` / ``UnknownDeviceModel`` when the inventory does not
        hold it: the DCC received no request for such a Device (``receive_request``)."""
        state = self._device(device)
        if state is None:
            raise UnknownDevice(device)
        model = self._app.load(model_aggregate_id(state.model), DeviceModel.create)
        if model is None:
            raise UnknownDeviceModel(state.model)
        return model.smets is SmetsGeneration.SMETS1

    def _device(self, device: EUI64) -> Device | None:
        self._app.catch_up()  # decide on the latest inventory, as a unit of work does
        return self._app.load(device_aggregate_id(device), Device.create)
