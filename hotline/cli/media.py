"""`hotline media-server`: the Media Streams WebSocket server as its own process."""

from __future__ import annotations

import click

from hotline.bootstrap import bootstrap
from hotline.media.config import MEDIA_PATH
from hotline.settings import Settings, check_shared_deployment


@click.command("media-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=5001, show_default=True, type=int, help="TCP port.")
def media_server(host: str, port: int) -> None:
    """Recognise callers' speech from Twilio Media Streams (ws path /twilio/media).

    Results reach the web app through Redis (REDIS_URL), which a separate process needs;
    without Redis, run the media server inside `hotline run` instead. With a Twilio token
    outside the embedded default, HOTLINE_MEDIA_URL must be the wss:// URL Twilio signs.
    """
    from hotline.media.server import run_media_server

    settings = Settings.from_env()
    if not settings.embedded:
        check_shared_deployment(settings, streaming=True)
    services = bootstrap(settings)
    if not services.settings.redis_url:
        raise click.ClickException(
            "a separate media server needs REDIS_URL to hand results to the web app"
        )
    click.echo(f"media streams on ws://{host}:{port}{MEDIA_PATH}")
    run_media_server(services, host, port)
