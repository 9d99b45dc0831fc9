"""`hotline speech recognize`: run a grammar over WAV files, as a call step would."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hotline.speech import grammars
from hotline.speech.audio import DEFAULT_MAX_SECONDS
from hotline.speech.engines import ENGINES, load_recognizer
from hotline.speech.exceptions import AudioError, SpeechError
from hotline.speech.grammars import Grammar
from ticketing.demo.city import build_demo_city

GRAMMARS = ("digits", "yesno", "menu", "category", "place")


@click.group()
def speech() -> None:
    """Offline speech recognition."""


def _demo_places(language: str) -> list[tuple[str, str]]:
    """The demo city's named places (not street addresses), valued as their English name."""
    zh = grammars.base_language(language) == "zh"
    return [
        (p.name_zh if zh else p.name_en, p.name_en)
        for p in build_demo_city().places
        if p.kind != "address"
    ]


def _grammar(
    name: str | None, language: str, places: tuple[str, ...], length: int | None
) -> Grammar | None:
    if name is None:
        return None
    if name == "digits":
        return grammars.digits(language, length)
    if name == "place":
        pairs = [(name, value or name) for name, _, value in (p.partition("=") for p in places)]
        return grammars.place(language, pairs or _demo_places(language))
    try:
        return grammars.BUILT_IN[name](language)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--grammar") from exc


@speech.command("recognize")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--lang", "language", default="en-US", show_default=True, help="e.g. en-US, zh-CN.")
@click.option(
    "--grammar", "grammar_name", type=click.Choice(GRAMMARS), help="Default: free speech."
)
@click.option(
    "--engine", type=click.Choice(ENGINES), help="Default: pocketsphinx for English, else vosk."
)
@click.option("--model", help="Model directory, installed model package or downloaded model name.")
@click.option(
    "--place",
    "places",
    multiple=True,
    help="NAME[=VALUE] for --grammar place (default: the demo city's).",
)
@click.option("--length", type=click.IntRange(1, 30), help="Exactly N digits (--grammar digits).")
@click.option("--max-seconds", default=DEFAULT_MAX_SECONDS, show_default=True, type=float)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def recognize(
    files: tuple[Path, ...],
    language: str,
    grammar_name: str | None,
    engine: str | None,
    model: str | None,
    places: tuple[str, ...],
    length: int | None,
    max_seconds: float,
    as_json: bool,
) -> None:
    """Recognise each WAV file with one model, loaded once, and print what was heard."""
    grammar = _grammar(grammar_name, language, places, length)
    try:
        recognizer = load_recognizer(engine, language, model, max_seconds)
    except SpeechError as exc:
        raise click.ClickException(str(exc)) from exc
    failed = 0
    for path in files:
        try:
            result = recognizer.recognize(path.read_bytes(), grammar)
        except AudioError as exc:
            # One bad file must not hide the others' results: report it and go on.
            failed += 1
            if as_json:
                click.echo(json.dumps({"file": str(path), "error": str(exc)}, ensure_ascii=False))
            else:
                click.echo(f"{path}: error: {exc}", err=True)
            continue
        except SpeechError as exc:  # the grammar or model, the same for every file
            raise click.ClickException(str(exc)) from exc
        if as_json:
            record = {
                "file": str(path),
                "text": result.text,
                "confidence": round(result.confidence, 3),
                "value": result.value,
                "engine": recognizer.name,
                "grammar": grammar_name,
            }
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            value = f"  -> {result.value}" if grammar else ""
            click.echo(f"{path}: {result.text!r} ({result.confidence:.2f}){value}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":  # until the lead registers `speech` on `hotline`
    speech(prog_name="hotline speech")
