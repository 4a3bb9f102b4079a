"""retrieve: for a job whose job.json says `fetch`, bring the images from the PACS named there
into this stage's folder (gather then reads them like the job's own files), and hold the job
when the PACS did not give every image it listed, naming each missing one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from burner.errors import JobHeld, Reason

if TYPE_CHECKING:
    from burner.context import JobContext

NAME = "retrieve"
LANE = "prepare"
FOLDER = "objects"        # inside this stage's work folder
MAX_NAMED = 200


def run(ctx: JobContext) -> None:
    manifest = ctx.record.manifest
    ref = manifest.fetch
    if ref is None:             # the job's images are in its folder
        ctx.checkpoint("retrieve")
        ctx.save(None)
        return
    from burner.network.fetch import find, retrieve
    from burner.network.settings import dicom_settings

    settings = dicom_settings(ctx.config)
    pacs = settings.pacs_named(ref.pacs)
    # Always narrowed to the approved patient's ID: a mistyped accession number finds
    # nothing rather than another patient's study (the identity gate checks every object).
    studies = find(settings, pacs, patient_id=manifest.patient_id,
                   study_uids=ref.study_uids, accessions=ref.accessions)
    if not studies:
        raise JobHeld(f"The PACS {pacs.name} holds no study for what this job asks to fetch, "
                      "so there is nothing to put on a disc. Check the accession numbers or "
                      "study UIDs with the PACS, then run burner retry.",
                      code=Reason.NOTHING_TO_WRITE)
    ctx.checkpoint("fetch")          # found, not yet retrieved (a test deletes one here)
    ctx.progress.begin("images fetched", sum(len(s.instances) for s in studies))
    fetched = retrieve(ctx.config, settings, pacs, studies, ctx.out() / FOLDER,
                       progress=ctx.progress.add)
    ctx.checkpoint("retrieve")
    if fetched.missing:
        named = [f"study {i.study_uid}, series {i.series_uid}: image {i.sop_uid} did not come"
                 for i in fetched.missing[:MAX_NAMED]]
        if len(fetched.missing) > MAX_NAMED:
            named.append(f"... and {len(fetched.missing) - MAX_NAMED} more")
        raise JobHeld(f"The PACS {pacs.name} listed {fetched.expected} images for this job but "
                      f"sent only {fetched.expected - len(fetched.missing)}, so nothing was "
                      "written. Ask the PACS administrator about the missing images, then run "
                      "burner retry.", named, code=Reason.INCOMPLETE_FETCH)
    ctx.save([(s.uid, s.accession, len(s.instances)) for s in studies])
