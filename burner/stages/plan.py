"""plan: the medium, the application profile, and what goes on each volume.

`media.type = auto` takes the smallest medium a configured writer holds that fits the whole
release; a release larger than its medium becomes a set of self-contained volumes, split by
study, then by series, and inside a series only when that series alone exceeds a volume.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from burner.dicom.headers import Instance
from burner.dicom.profiles import ALLOWED_SYNTAXES
from burner.errors import JobHeld, JobRejected, Reason
from burner.media.kinds import KINDS, MB, SECTOR, auto_media, drive_capacity, image_limit
from burner.media.writers import no_writer, served_media
from burner.record import Plan

if TYPE_CHECKING:
    from burner.config import Config
    from burner.context import JobContext

NAME = "plan"
LANE = "prepare"

VOLUME_OVERHEAD = 4 * MB     # file-system structures, DICOMDIR, README, INDEX.HTM, lists
FILE_OVERHEAD = 1024         # a directory entry, a DICOMDIR record and a checksum line
WEB_PER_IMAGE = 48 * 1024    # its IHE_PDI rendition (measured ~29 KB for a 512x512 CT) + page
VIEWER_SHARE = 0.6           # viewer data: at most this share of the decoded pixel bytes
VIEWER_FILES = 200 * 1024    # the viewer's own scripts, style sheet and index


def estimated_size(inst: Instance, profile: str) -> int:
    """Bytes an object takes on the disc (decompressed size when the profile needs it)."""
    if inst.transfer_syntax in ALLOWED_SYNTAXES[profile] or not inst.has_pixels:
        return inst.size
    frames = int(inst.get("NumberOfFrames", 1) or 1)
    samples = int(inst.get("SamplesPerPixel", 1) or 1)
    bits = int(inst.get("BitsAllocated", 16) or 16)
    pixels = int(inst.get("Rows", 0) or 0) * int(inst.get("Columns", 0) or 0)
    return inst.size + frames * samples * pixels * ((bits + 7) // 8)


def viewer_size(inst: Instance) -> int:
    """Estimated bytes of an object's packed frames in VIEWER/DATA/ (whole sectors)."""
    if not inst.has_pixels:
        return 0
    frames = max(1, inst.integer("NumberOfFrames", 1))
    samples = inst.integer("SamplesPerPixel", 1)
    bits = inst.integer("BitsAllocated", 16)
    pixels = inst.integer("Rows", 0) * inst.integer("Columns", 0)
    packed = int(frames * samples * pixels * ((bits + 7) // 8) * VIEWER_SHARE)
    return frames * (-(-packed // frames // SECTOR) * SECTOR + FILE_OVERHEAD)


def footprint(inst: Instance, profile: str, web: bool = True, viewer: bool = False) -> int:
    """Space an object takes on a volume: its size in whole sectors plus its entries, its
    JPEG rendition and page in IHE_PDI/ when the volume carries web content, and its viewer
    data when `viewer`."""
    size = estimated_size(inst, profile)
    if inst.record == "ENCAP DOC":   # a job.json report's PDF also goes to REPORTS/
        size *= 2
    extra = WEB_PER_IMAGE if web and inst.has_pixels else 0
    if viewer:
        extra += viewer_size(inst)
    return -(-size // SECTOR) * SECTOR + FILE_OVERHEAD + extra


Capacities = dict[str, int]


def usable(media: str, capacities: Capacities | None = None) -> int:
    """Bytes of objects a volume of `media` takes (its capacity less the volume's own files)."""
    return (capacities or {}).get(media, KINDS[media].capacity) - VOLUME_OVERHEAD


def writer_media(config: Config) -> list[str]:
    """The media this station's writers can take, smallest first."""
    have = {d.media for d in config.drives}
    return [m for m in auto_media() if m in have]


def writer_capacities(config: Config) -> Capacities:
    """Capacities the station knows better than the standard: a drive's capacity_mb, a stick
    stand-in's size. With several writers of one medium, the smallest counts."""
    known: Capacities = {}
    for d in config.drives:
        size = drive_capacity(d)
        if size is not None:
            known[d.media] = min(size, known.get(d.media, size))
    return known


def choose_media(requested: str, available: list[str], total_for: Callable[[str], int],
                 capacities: Capacities | None = None) -> str:
    """The requested medium, or for "auto" the smallest available one that holds the release
    (`total_for(medium)` bytes) in one piece; the largest available one, split, if none does."""
    if requested != "auto":
        return requested
    if not available:
        return "iso"
    fitting = [m for m in available if total_for(m) <= usable(m, capacities)]
    return fitting[0] if fitting else max(available, key=lambda m: usable(m, capacities))


def split(sizes: list[int], studies: list[list[list[int]]], capacity: int) -> list[list[int]]:
    """Pack instance indexes into volumes of `capacity` bytes, keeping the order.

    `studies` holds, per study, its series, each a list of instance indexes. A study goes
    whole onto the current volume if it fits there, else onto a new one if it fits a volume;
    otherwise its series are placed the same way, and a series larger than a volume is cut.
    """
    volumes: list[list[int]] = [[]]
    free = capacity

    def new_volume() -> None:
        nonlocal free
        if volumes[-1]:
            volumes.append([])
            free = capacity

    def place(group: list[int]) -> bool:
        nonlocal free
        need = sum(sizes[i] for i in group)
        if need > free and need <= capacity:
            new_volume()
        if need <= free:
            volumes[-1].extend(group)
            free -= need
            return True
        return False

    for series_list in studies:
        if place([i for s in series_list for i in s]):
            continue
        for series in series_list:
            if place(series):
                continue
            for i in series:           # one series larger than a whole volume
                if sizes[i] > free:
                    new_volume()
                volumes[-1].append(i)
                free -= sizes[i]
    return [v for v in volumes if v]


def group(instances: list[Instance]) -> list[list[list[int]]]:
    """Instance indexes per study, per series, in the order they were met."""
    studies: OrderedDict[str, OrderedDict[str, list[int]]] = OrderedDict()
    for n, inst in enumerate(instances):
        studies.setdefault(inst.study_uid, OrderedDict()) \
            .setdefault(inst.series_uid, []).append(n)
    return [list(series.values()) for series in studies.values()]


def make_plan(instances: list[Instance], requested_media: str, requested_profile: str,
              available: list[str], capacities: Capacities | None = None,
              web: bool = True, viewer: bool = False, reserved: int = 0) -> Plan:
    """Medium, profile and volumes for `instances`. With `viewer`, "auto" picks a medium
    that holds the viewer data too when one does; a volume whose viewer data would not fit
    goes without it (Plan.viewer). `reserved` bytes of every volume are taken by files of
    the site's own (a site viewer)."""
    def profile_for(media: str) -> str:
        return KINDS[media].default_profile if requested_profile == "auto" \
            else requested_profile

    # The profile changes sizes (a CD decompresses): estimate with each medium's own profile.
    media = choose_media(requested_media, available,
                         lambda m: reserved + sum(footprint(i, profile_for(m), web, viewer)
                                                  for i in instances),
                         capacities)
    room = usable(media, capacities) - reserved
    profile = profile_for(media)
    if profile not in KINDS[media].profiles:
        raise JobRejected(f"the profile {profile} cannot be written to a {media.upper()}; "
                          "choose a matching profile or media.profile \"auto\"")
    sizes = [footprint(i, profile, web) for i in instances]
    too_big = [i.rel for i, size in zip(instances, sizes, strict=True) if size > room]
    if too_big:
        raise JobHeld(f"Some files are each larger than a whole {media.upper()}, so they cannot "
                      "be put on this medium. Choose a larger medium (media.type), then retry.",
                      too_big, code=Reason.TOO_BIG)
    volumes = split(sizes, group(instances), room)
    estimated = [VOLUME_OVERHEAD + reserved + sum(sizes[i] for i in v) for v in volumes]
    extras = [VIEWER_FILES + sum(viewer_size(instances[i]) for i in v) for v in volumes]
    fits = [viewer and size - VOLUME_OVERHEAD - reserved + extra <= room
            for size, extra in zip(estimated, extras, strict=True)]
    estimated = [size + extra if fit else size
                 for size, extra, fit in zip(estimated, extras, fits, strict=True)]
    # A stick's real size is known when it is written, unless the station knows it now.
    known = KINDS[media].writer != "usb" or media in (capacities or {})
    limit = image_limit(media, room + reserved + VOLUME_OVERHEAD) if known else None
    return Plan(media, profile, volumes, estimated, fits, limit)


def run(ctx: JobContext) -> None:
    manifest = ctx.record.manifest
    gathered = ctx.record.gathered
    made = make_plan(gathered.instances, manifest.media_type, manifest.media_profile,
                     writer_media(ctx.config), writer_capacities(ctx.config),
                     manifest.media_web, manifest.media_viewer,
                     reserved=_site_viewer_bytes(ctx.config, manifest.media_type))
    # Before anything is staged (patient data copied to work/): a medium this station cannot
    # write waits for a person now, not after staging and mastering. `burner build` writes
    # nothing, so it needs no writer.
    if not manifest.media_split and len(made.volumes) > 1:
        raise JobHeld(f"This release needs {len(made.volumes)} discs, but the request says it "
                      "must not be split over several, so nothing was written. Ask for a "
                      "larger medium or allow splitting, then run burner retry.",
                      code=Reason.TOO_BIG)
    if ctx.writes and made.media not in served_media(ctx.config):
        raise no_writer(made.media)
    ctx.save(made)
    ctx.db.set_media(ctx.job_id, made.media)
    ctx.checkpoint("plan")


def _site_viewer_bytes(config: Config, media: str) -> int:
    """What a site's own viewer takes on every disc or stick ([media] site_viewer); an
    electronic copy or a send carries none."""
    from burner.content.siteviewer import site_viewer

    if media in ("zip", "folder", "dicom"):
        return 0
    viewer = site_viewer(config)
    if viewer is None:
        return 0
    return sum(-(-size // SECTOR) * SECTOR + FILE_OVERHEAD for size in viewer.sizes)
