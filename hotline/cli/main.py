"""The `hotline` command: serve, migrate, load the demo city, simulate calls and SMS."""

from __future__ import annotations

import json
import logging
import signal
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path

import click

from hotline import logs
from hotline.bootstrap import Services, bootstrap
from hotline.cli import admin, imports
from hotline.cli import flows as flows_cli
from hotline.cli import metrics as metrics_cli
from hotline.cli import models as models_cli
from hotline.cli import users as users_cli
from hotline.cli.media import media_server
from hotline.cli.speech import speech
from hotline.jobs import context, tasks
from hotline.jobs.queue import QUEUE_NAMES
from hotline.jobs.scheduler import Scheduler, start_in_thread
from hotline.settings import ConfigurationError, Settings, check_shared_deployment
from hotline.simulator.caller import (
    CallResult,
    FlaskTransport,
    HttpTransport,
    Simulator,
    SimulatorError,
    load_script,
)
from hotline.storage import schema
from hotline.storage.files import FileStore
from ticketing.demo import seeding
from ticketing.notices.outbox import newest_outbound

log = logging.getLogger(__name__)


class _Hotline(click.Group):
    """The command group: a configuration refused at start-up is one line and exit
    status 1 (click's usual error), never a traceback, whichever command read it."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Hotline)
def main() -> None:
    """City hotline and case ticketing (grid service management)."""
    try:  # every command (worker, media server, ...) logs the one way HOTLINE_LOG_FORMAT says
        logs.configure_logging()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version."""
    settings = Settings.from_env()
    bootstrap(settings)  # makes the var/ directory for the SQLite default
    schema.upgrade(settings.database_url)
    click.echo(f"schema up to date on {_safe_url(settings.database_url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.group()
def demo() -> None:
    """The demo city."""


@demo.command("load")
def demo_load() -> None:
    """Load the category catalogue and the demo district (safe to run again)."""
    _load_demo(bootstrap())


def _load_demo(services: Services) -> None:
    with services.uow() as uow:
        seeding.load_catalogue(uow)
    with services.uow() as uow:
        summary = seeding.load_demo_city(
            uow, demo_passwords=users_cli.demo_passwords(services.settings.var_dir)
        )
    click.echo(_describe(summary))


def _describe(s: seeding.DemoSummary) -> str:
    """What was loaded, then commands to paste: a first call and the member's replies."""
    return "\n".join(
        [
            f"demo city: {s.regions} regions, {s.grids} grids, {s.staff} staff, "
            f"{s.categories} categories, {s.departments} departments, {s.places} places",
            f"try: grid {s.grid_code}, primary member {s.grid_member_name} {s.grid_member_phone}; "
            f"community code {s.community_code}; a dispatcher {s.dispatcher_phone}",
            "keypad path of a broken street light, in English: 2 (English), 1 (report), "
            f"1 (streets), 1 (street light), then the grid code {s.grid_code}#",
            f"  hotline simulate call --from +8613812345678 --press '2 1 1 1 {s.grid_code}#' "
            "--record tests/fixtures/audio/street_light_en.wav",
            "  the same by voice: hotline simulate script "
            "tests/fixtures/calls/street_light_voice_en.yaml",
            f"  hotline outbox list --to {s.grid_member_phone}",
            f"  hotline simulate sms --from {s.grid_member_phone} 'A <case number>'",
            f"  hotline simulate sms --from {s.grid_member_phone} 'D <case number> bulb replaced'",
        ]
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--demo/--no-demo", default=True, show_default=True, help="Load the demo city before serving."
)
@click.option(
    "--media-port",
    default=5001,
    show_default=True,
    type=int,
    help="The embedded Media Streams server (0: none; speech then uses <Record>).",
)
def run(host: str, port: int, demo: bool, media_port: int) -> None:
    """Serve the hotline (embedded: Werkzeug, threads, in-process jobs, media server)."""
    from hotline.app import create_app
    from hotline.media.server import media_url, start_media_server_thread
    from hotline.speech.exceptions import SpeechError

    settings = Settings.from_env()
    if media_port and not settings.media_url:
        settings = replace(settings, media_url=media_url(host, media_port))
        if not settings.embedded:  # Twilio reaches an embedded ws:// server only on loopback
            check_shared_deployment(settings)
    schema.upgrade(settings.database_url)
    services = bootstrap(settings)
    if demo:
        _load_demo(services)
    start_in_thread(
        Scheduler(partial(_tick_on, services), services.settings.tick_seconds, services.redis)
    )
    if media_port:
        try:  # loads every configured speech model: a missing one stops us here, clearly
            start_media_server_thread(services, host, media_port)
        except SpeechError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"media streams: {services.settings.media_url}")
    app = create_app(services=services)
    click.echo(
        f"hotline listening on http://{host}:{port}  (Twilio voice webhook: "
        f"/twilio/voice/incoming, SMS: /twilio/sms/incoming)"
    )
    click.echo(f"console: http://{host}:{port}/login")
    if demo:
        click.echo("demo accounts (username, password, role):")
        click.echo("\n".join(users_cli.demo_logins(settings.var_dir)))
    app.run(host=host, port=port, threaded=True, use_reloader=False)


@main.command()
@click.argument("queues", nargs=-1, type=click.Choice(QUEUE_NAMES))
def worker(queues: tuple[str, ...]) -> None:
    """Run an rq worker for QUEUES (default: all, sms first; needs REDIS_URL).

    In production run one per queue (`hotline worker sms`, `hotline worker speech`,
    `hotline worker default`), and as many SMS workers as intake needs.
    """
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from hotline.jobs.queue import RqJobQueue

    services = context.bind(bootstrap())
    if not isinstance(services.jobs, RqJobQueue):
        raise click.ClickException("REDIS_URL is not set: jobs already run in-process")
    names = [name for name in QUEUE_NAMES if name in (queues or QUEUE_NAMES)]
    # SimpleWorker runs jobs in this process: our jobs are short and trusted, and a fork
    # plus a new database connection per SMS made the worker the intake's bottleneck.
    SimpleWorker(names, connection=services.jobs.redis, serializer=JSONSerializer).work(
        with_scheduler=True
    )


@main.command()
def scheduler() -> None:
    """Run the minute tick: SLA sweep, outbox drain, auto-close (needs REDIS_URL).

    Run one on every host if you like: a Redis lease lets exactly one of them tick, and
    a standby takes over at its first tick after the leader's 30 s lease lapses.
    """
    services = context.bind(bootstrap())
    if services.redis is None:
        raise click.ClickException(
            "REDIS_URL is not set: the schedulers could not elect one of them "
            "(the embedded `hotline run` ticks by itself)"
        )
    clock = Scheduler(tasks.tick, services.settings.tick_seconds, services.redis)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: clock.stop())
    click.echo(f"scheduler: a tick every {services.settings.tick_seconds}s while this one leads")
    clock.run()


def _tick_on(services: Services) -> tasks.Tick:
    with context.running_on(services):
        return tasks.tick()


@main.command()
@click.argument("text", required=False)
@click.option("--point", help="LAT,LON instead of a text, e.g. 34.7712,113.6689.")
@click.option("--limit", default=5, show_default=True)
def locate(text: str | None, point: str | None, limit: int) -> None:
    """Find a place by name (fuzzy, English or Chinese) or a point, and its grid."""
    from ticketing.places.indexes import Locator

    services = bootstrap()
    with services.uow() as uow:
        locator = Locator.load(uow.session)
    if point:
        try:
            lat, lon = (float(part) for part in point.split(","))
        except ValueError as exc:
            raise click.BadParameter("use LAT,LON", param_hint="--point") from exc
        click.echo(f"grid {locator.grid_at(lat, lon) or '(outside every grid)'}")
        return
    if not text:
        raise click.UsageError("give a place name or --point")
    found = locator.search(text, limit)
    for hit in found:
        entry = hit.match.entry
        click.echo(
            f"{hit.match.score:5.1f}  {entry.name_en} / {entry.name_zh} ({entry.kind})"
            f"  grid {hit.grid_code or '-'}"
        )
    if not found:
        click.echo("no place matches")


@main.command()
def sweep() -> None:
    """Run the scheduler's tick once, here: escalations, outbox drain, auto-close."""
    context.bind(bootstrap())  # the tick runs here, as the scheduler would run it
    click.echo(str(tasks.tick()))


@main.group()
def outbox() -> None:
    """SMS waiting or sent."""


@outbox.command("list")
@click.option("--to", "to_number", help="Only messages to this number.")
@click.option("--limit", default=10, show_default=True)
def outbox_list(to_number: str | None, limit: int) -> None:
    """Show the newest outgoing SMS."""
    services = bootstrap()
    with services.uow() as uow:
        for message in newest_outbound(uow.session, to_number, limit):
            click.echo(
                f"#{message.id} {message.status.value:<9} to {message.to_number} "
                f"({message.purpose}): {message.body}"
            )


@outbox.command("drain")
def outbox_drain() -> None:
    """Re-enqueue SMS still queued after a minute (the scheduler's tick does it too)."""
    context.bind(bootstrap())  # the job runs here, as a worker would run it
    click.echo(f"re-enqueued {tasks.drain_outbox()} message(s)")


def _simulator(url: str | None) -> Simulator:
    settings = Settings.from_env()
    files = FileStore(settings.files_dir)  # the server's own store: it fetches from there
    if url:
        base = settings.public_base_url or url
        return Simulator(HttpTransport(url), base, settings.webhook_token, files=files)
    from hotline.app import create_app

    app = create_app(settings)
    base = settings.public_base_url or "http://localhost"
    return Simulator(FlaskTransport(app), base, settings.webhook_token, files=files)


@main.group()
def simulate() -> None:
    """Play Twilio: place a call or send an SMS to the hotline's webhooks."""


@simulate.command("call")
@click.option("--from", "from_number", required=True, help="Caller ID, e.g. +8613912345678.")
@click.option(
    "--press",
    multiple=True,
    help="Keys for successive prompts; repeat or space-separate ('wait' = none).",
)
@click.option(
    "--record",
    "recording",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="WAV file the caller speaks at the recording prompt.",
)
@click.option("--url", help="A running server (default: the app in this process).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def simulate_call(
    from_number: str, press: tuple[str, ...], recording: Path | None, url: str | None, as_json: bool
) -> None:
    """Place one simulated call."""
    keys = [key for group in press for key in group.split()]
    try:
        result = _simulator(url).call(from_number, keys, recording)
    except SimulatorError as exc:
        raise click.ClickException(str(exc)) from exc
    _show(result, as_json)


@simulate.command("script")
@click.argument("script", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--from", "from_number", help="Caller ID (default: the script's `from`).")
@click.option("--url", help="A running server (default: the app in this process).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def simulate_script(script: Path, from_number: str | None, url: str | None, as_json: bool) -> None:
    """Replay a whole call from a YAML script (press, say, silence)."""
    try:
        caller, actions = load_script(script)
        result = _simulator(url).call_script(from_number or caller or "+8613800000000", actions)
    except SimulatorError as exc:
        raise click.ClickException(str(exc)) from exc
    _show(result, as_json)


def _show(result: CallResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
        return
    for line in result.conversation:
        click.echo(line)
    case = result.as_json()
    if case["case_number"]:
        who = (case["assignee"] and f"{case['assignee']} ({case['assignee_phone']})") or (
            f"department {case['department']}" if case["department"] else "agent triage"
        )
        click.echo(
            f"\ncase {case['case_number']}: {case['category']} in grid "
            f"{case['grid'] or '-'}, {case['status']}, assigned to {who}"
        )
    else:
        click.echo("\nno case was created")


@simulate.command("sms")
@click.option("--from", "from_number", required=True)
@click.option("--url", help="A running server (default: the app in this process).")
@click.argument("text")
def simulate_sms(from_number: str, url: str | None, text: str) -> None:
    """Send one simulated SMS and print the hotline's reply."""
    try:
        reply = _simulator(url).sms(from_number, text)
    except SimulatorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"reply: {reply}" if reply else "(no reply)")


main.add_command(admin.report)
main.add_command(admin.sla)
main.add_command(models_cli.models)
main.add_command(flows_cli.flows)
main.add_command(speech)
main.add_command(media_server)
main.add_command(metrics_cli.metrics)
main.add_command(users_cli.users)
for _command in imports.COMMANDS:  # import, calendar, roster, audit
    main.add_command(_command)

if __name__ == "__main__":
    sys.exit(main())
