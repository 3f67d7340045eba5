"""One ``ProtocolAdapter`` per codec; ``adapter_for`` picks one by the hall-config name."""

from devices.serial.adapters.factory import AdapterOptions, UnknownAdapterError, adapter_for

__all__ = ["AdapterOptions", "UnknownAdapterError", "adapter_for"]
