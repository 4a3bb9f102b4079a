"""Which disk burner may write as a patient's USB stick, and the refusal a person can act on
for every other one: never the system disk, a fixed disk, a removable disk off USB, a stick
mounted elsewhere, a write-protected or too small one.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from pathlib import Path

from burner.errors import DeviceError
from burner.media.blockdev import (
    DEV,
    MOUNTS,
    SYSFS,
    BlockDevice,
    holders,
    list_block_devices,
    mounted_devices,
    root_disks,
)

__all__ = [
    "NoStick", "NotRemovable", "NotUsb", "StickMounted", "StickReadOnly", "StickRemoved",
    "StickTooSmall", "SystemDisk", "UsbError", "candidates", "check_stick", "pick_stick",
    "too_small",
]


class UsbError(DeviceError):
    """A USB stick cannot be used or failed; the message says what to do."""


class NotRemovable(UsbError):
    """A fixed disk."""


class NotUsb(UsbError):
    """A removable disk that is not on the USB bus (e.g. an SD slot or a hot-swap bay)."""


class SystemDisk(UsbError):
    """The disk the station's own system runs from."""


class StickMounted(UsbError):
    """Something else has the stick open or mounted."""


class StickReadOnly(UsbError):
    """Write-protected."""


class StickTooSmall(UsbError):
    """Smaller than the job."""


class NoStick(UsbError):
    """Nothing suitable is plugged in."""


class StickRemoved(UsbError):
    """The stick went away while it was written or read back."""


REMOVED_TEXT = ("The USB stick was removed while it was being written. Put it back (or a new "
                "one) — the job will retry.")


def _mb(nbytes: int, up: bool) -> int:
    return -(-nbytes // 1_000_000) if up else nbytes // 1_000_000


def too_small(what: str, need: int, have: int) -> StickTooSmall:
    return StickTooSmall(
        f"The USB stick {what} is too small for this job: it needs {_mb(need, True)} MB but "
        f"the stick holds only {_mb(have, False)} MB. Use a larger stick; the job will "
        "retry.")


def check_stick(device: BlockDevice, need_bytes: int, *, mounts: Path = MOUNTS,
                sysfs: Path = SYSFS, our_mounts: AbstractSet[str] = frozenset(),
                ) -> None:
    """Raise the refusal a person can act on unless `device` is a free USB stick with room."""
    what = device.describe()
    if device.name in root_disks(mounts, sysfs):
        raise SystemDisk(f"{what} holds this station's own system; burner never writes to it. "
                         "Plug in a USB stick for the patient instead.")
    if not device.removable:
        raise NotRemovable(f"{what} is a fixed disk, not a USB stick; burner never writes to "
                           "it. Plug in a USB stick for the patient instead.")
    if not device.usb:
        raise NotUsb(f"{what} is a removable disk that is not on USB (for example a memory "
                     "card slot); burner only writes USB sticks. Plug in a USB stick instead.")
    mounted = mounted_devices(mounts)
    busy = {device.name, *device.partitions, *holders(device, sysfs)}
    elsewhere = sorted(mounted[n] for n in busy if n in mounted and mounted[n] not in our_mounts)
    if elsewhere:
        raise StickMounted(f"The USB stick {what} is open on this computer (at "
                           f"{', '.join(elsewhere)}), so burner will not overwrite it. "
                           "Unmount/eject it in the computer first, then retry the job.")
    if device.read_only:
        raise StickReadOnly(f"The USB stick {what} is write-protected. Slide its "
                            "write-protect switch off (or use another stick); the job will "
                            "retry.")
    if device.size_bytes < need_bytes:
        raise too_small(what, need_bytes, device.size_bytes)


def candidates(devices: list[BlockDevice]) -> list[BlockDevice]:
    """Removable USB disks with a medium in them (an empty card reader reports size 0)."""
    return [d for d in devices if d.removable and d.usb and d.size_bytes > 0]


def pick_stick(need_bytes: int, *, sysfs: Path = SYSFS, dev: Path = DEV,
               mounts: Path = MOUNTS) -> BlockDevice:
    """The smallest plugged-in USB stick that passes check_stick; else the reason there is
    none (a single refused stick gives its own refusal)."""
    good, refused = [], []
    for device in candidates(list_block_devices(sysfs, dev)):
        try:
            check_stick(device, need_bytes, mounts=mounts, sysfs=sysfs)
        except UsbError as exc:
            refused.append(exc)
            continue
        good.append(device)
    if good:
        return min(good, key=lambda d: (d.size_bytes, d.name))
    if len(refused) == 1:
        raise refused[0]
    if refused:
        raise NoStick("None of the plugged-in USB sticks can be used: "
                      + " ".join(str(e) for e in refused))
    raise NoStick("No USB stick is plugged in. Plug in an empty USB stick of at least "
                  f"{_mb(need_bytes, True)} MB; the job will retry.")
