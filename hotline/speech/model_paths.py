"""Find a speech model from a path or a name, or say clearly at start-up why not.

Names go through the manifest (`hotline.speech.manifest`), so the recognisers and
`hotline models` agree on where a model lives and on the command that installs it.
"""

from __future__ import annotations

from pathlib import Path

from hotline.speech import manifest as speech_models
from hotline.speech.exceptions import ModelNotFound


def find_model(spec: str, downloads: Path | None = None) -> Path:
    """The model directory for a path, a manifest name, or an unlisted model package."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if "/" in spec or spec.startswith((".", "~")):
        raise ModelNotFound(f"speech model {spec!r} not found: no directory {path}")
    manifest = speech_models.load_manifest()
    directory = downloads or speech_models.models_dir()
    try:
        return speech_models.resolve_model(spec, manifest=manifest, directory=directory)
    except speech_models.ModelNotInstalled as exc:
        raise ModelNotFound(str(exc)) from exc
    except speech_models.UnknownModel:
        pass  # not in the manifest: a folder of that name, or a vosk-model-* package
    if (directory / spec).is_dir():
        return directory / spec
    for installed in speech_models.discover_packaged(manifest):
        if installed.spec.name == spec:
            return installed.path
    raise ModelNotFound(
        f"speech model {spec!r} not found: not in the manifest, not in {directory}, and no "
        "package of that name; see `hotline models list`"
    )
