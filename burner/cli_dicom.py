"""`burner dicom`: the DICOM listener on its own, and the commands technicians use to test the
links to a PACS or another hospital (echo, find, fetch)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from burner import logs
from burner.errors import BurnerError, ConfigError


def _settings(app):  # noqa: ANN001, ANN202 - the cli's App
    from burner.network.settings import dicom_settings

    return dicom_settings(app.config)


def _remote(app, name: str):  # noqa: ANN001, ANN202
    settings = _settings(app)
    if name in settings.pacs:
        return settings, settings.pacs[name], f"the PACS {name}"
    if name in settings.destinations:
        return settings, settings.destinations[name], f"the destination {name}"
    known = ", ".join(sorted({*settings.pacs, *settings.destinations})) or "none is configured"
    raise ConfigError(f"there is no PACS or destination called {name!r} (known: {known})")


def register(cli: click.Group, pass_app) -> None:  # noqa: ANN001
    """Add the `dicom` group to `cli`."""

    @cli.group(invoke_without_command=True)
    @pass_app
    @click.pass_context
    def dicom(ctx: click.Context, app) -> None:  # noqa: ANN001
        """Run the DICOM listener alone (Verification, Storage, Media Creation Management),
        or test the network links with its subcommands."""
        if ctx.invoked_subcommand is not None:
            return
        import signal
        import threading

        from burner.network import listener

        logs.console_level(logging.INFO)
        settings = _settings(app)
        try:
            running = listener.start(app.config, settings)
        except OSError as exc:
            raise BurnerError(f"cannot listen on {settings.bind}:{settings.port} "
                              f"({exc.strerror})") from None
        click.echo(f"listening as {settings.ae_title} on {settings.bind}:{running.port}")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        try:
            stop.wait()
        finally:
            running.stop()

    @dicom.command("echo")
    @click.argument("name")
    @pass_app
    def echo(app, name: str) -> None:  # noqa: ANN001
        """C-ECHO a configured PACS or destination."""
        from burner.network import scu

        settings, remote, what = _remote(app, name)
        scu.echo(settings, remote, what)
        click.echo(f"{what} ({remote.ae_title} at {remote.where}) answered")

    def _find(app, pacs: str, patient_id, study, accession):  # noqa: ANN001, ANN202
        from burner.network.fetch import find

        settings = _settings(app)
        remote = settings.pacs_named(pacs)
        if not (patient_id or study or accession):
            raise click.UsageError("give --patient-id, --study or --accession")
        return settings, remote, find(settings, remote, patient_id=patient_id or None,
                                      study_uids=tuple(study), accessions=tuple(accession))

    keys = [click.argument("pacs"),
            click.option("--patient-id", default=None, help="The patient's ID at the PACS."),
            click.option("--study", multiple=True, help="A Study Instance UID (repeatable)."),
            click.option("--accession", multiple=True, help="An accession number (repeatable).")]

    def with_keys(f):  # noqa: ANN001, ANN202
        for decorate in reversed(keys):
            f = decorate(f)
        return f

    @dicom.command("find")
    @with_keys
    @pass_app
    def find_cmd(app, pacs: str, patient_id, study, accession) -> None:  # noqa: ANN001
        """List the studies a PACS holds (date, accession, modalities, images)."""
        _, _, studies = _find(app, pacs, patient_id, study, accession)
        if not studies:
            click.echo("no study found")
        for s in studies:
            click.echo(f"{s.uid}\t{s.date}\t{s.accession}\t{s.modalities}\t"
                       f"{len(s.instances)} images\t{s.description}")

    @dicom.command("fetch")
    @with_keys
    @click.option("--out", "out_dir", required=True,
                  type=click.Path(file_okay=False, path_type=Path))
    @pass_app
    def fetch_cmd(app, pacs: str, patient_id, study, accession, out_dir: Path) -> None:  # noqa: ANN001
        """Fetch studies into a folder by the PACS's method, and check every image came."""
        from burner.errors import JobHeld
        from burner.network.fetch import retrieve

        settings, remote, studies = _find(app, pacs, patient_id, study, accession)
        if not studies:
            raise JobHeld("the PACS holds no such study")
        fetched = retrieve(app.config, settings, remote, studies, out_dir.resolve())
        click.echo(f"{len(fetched.files)} file(s) in {out_dir}; "
                   f"{fetched.expected - len(fetched.missing)} of {fetched.expected} listed "
                   f"images came by {remote.retrieve}")
        if fetched.missing:
            raise JobHeld(f"{len(fetched.missing)} listed image(s) did not come",
                          [i.sop_uid for i in fetched.missing])
