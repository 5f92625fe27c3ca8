"""``invoke new NAME --from PATH``: a model folder ``artifacts/NAME/`` from a trained model.

PATH is a folder, a ``model.tar.gz`` (what a SageMaker training job leaves in S3, extracted
with :func:`sagepack.archive.safe_extract`) or one model file. Its files are copied; then
come, unless the model brought its own: ``code/inference.py`` for the framework guessed
(:mod:`.detect`), ``requirements/cpu.in``, ``samples/request.csv`` and ``sagepack.toml``.
The folder is assembled beside ``artifacts/`` under a temporary name, checked by sagepack's
own configuration reader, and only then renamed into place: a refused or failed ``new``
leaves nothing behind, and an existing folder is replaced only when told.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sagepack.config import MODEL_CONFIG_NAME, ProjectConfig, load_model
from sagepack.config.model import MODEL_NAME
from sagepack.errors import ConfigError, ConfigProblem, ScaffoldError
from sagepack.scaffold.detect import Guess, guess
from sagepack.scaffold.templates import (
    SAMPLE_BODY,
    render_config,
    render_handler,
    render_requirements,
    render_sample,
)

HANDLER = "code/inference.py"
DECLARED = "code/requirements.txt"
REQUIREMENTS_IN = "requirements/cpu.in"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", ".DS_Store", ".ipynb_checkpoints")


@dataclass(frozen=True)
class NewModel:
    """What ``invoke new`` made."""

    folder: Path
    guess: Guess
    copied: tuple[str, ...]
    """The model's own files, relative to the folder."""
    written: tuple[str, ...]
    """The files sagepack wrote."""
    notes: tuple[str, ...]
    warnings: tuple[str, ...]

    def lines(self) -> list[str]:
        """What to tell the user: what was made, what was guessed and why, what is next."""
        out = [f"{self.folder}: a {self.guess.title} model"
               + (f" served from {self.guess.model_file}" if self.guess.model_file else ""),
               f"  copied: {', '.join(self.copied) or 'nothing'}",
               f"  written: {', '.join(self.written)}"]
        out += [f"  - {reason}" for reason in (*self.guess.reasons, *self.notes)]
        out += [f"  warning: {warning}" for warning in self.warnings]
        name = self.folder.name
        out += ["next:", f"  invoke lock --model {name}",
                f"  invoke package --model {name} build --model {name} "
                f"test --model {name} --no-network --record"]
        return out


def _check_name(name: str, project: ProjectConfig) -> Path:
    if not MODEL_NAME.match(name):
        raise ScaffoldError(f"cannot name a model {name!r}: expected lower-case letters, "
                            "digits, '.', '_' or '-', starting with a letter or digit (an "
                            "ECR-safe name, at most 63 characters)")
    return project.artifacts_dir / name


@contextmanager
def _source_folder(source: Path, project: ProjectConfig) -> Iterator[tuple[Path, bool]]:
    """The folder of the model's files, and whether it is one file (copied alone)."""
    if not source.exists():
        raise ScaffoldError(f"--from {source}: no such file or folder")
    if source.is_dir():
        yield source, False
        return
    if not source.name.endswith(ARCHIVE_SUFFIXES):
        yield source, True
        return
    from sagepack.archive import safe_extract

    with tempfile.TemporaryDirectory(prefix="sagepack-new-") as scratch:
        yield safe_extract(source, Path(scratch) / "model",
                           max_bytes=project.max_archive_bytes,
                           max_members=project.max_archive_members), False


def _copy(source: Path, single: bool, folder: Path) -> tuple[str, ...]:
    if single:
        folder.mkdir()
        shutil.copy2(source, folder / source.name)
    else:
        shutil.copytree(source, folder, ignore=_IGNORED)
    if (folder / MODEL_CONFIG_NAME).exists():
        raise ScaffoldError(f"--from {source}: it already holds a {MODEL_CONFIG_NAME}, so it "
                            "is a sagepack model folder: copy it under artifacts/ instead")
    return tuple(p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*"))
                 if p.is_file())


def _declared(folder: Path) -> list[str] | None:
    """The lines of the model's own ``code/requirements.txt``, if it has one."""
    file = folder / DECLARED
    if not file.is_file():
        return None
    return [line.rstrip() for line in file.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _pin_conflicts(declared: list[str], found: Guess) -> list[str]:
    """Where ``code/requirements.txt`` pins another version than the artifact was saved
    with (kept as declared, and said)."""
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement as Parsed

    recorded = {}
    for req in found.requirements:
        if "==" in req.spec:
            name, version = req.spec.split("==", 1)
            recorded[name.lower()] = version
    conflicts = []
    for line in declared:
        try:
            parsed = Parsed(line.split("#", 1)[0].strip())
        except InvalidRequirement:
            continue
        saved = recorded.get(parsed.name.lower())
        if saved is not None and not parsed.specifier.contains(saved, prereleases=True):
            conflicts.append(f"{DECLARED} asks for {parsed}, but {found.model_file} was saved "
                             f"with {parsed.name} {saved}: {REQUIREMENTS_IN} keeps "
                             f"{DECLARED}'s line, and the model may not load with it")
    return conflicts


def _write(folder: Path, rel: str, text: str, written: list[str], notes: list[str]) -> None:
    """Write ``rel`` unless the model brought its own."""
    path = folder / rel
    if path.exists():
        notes.append(f"{rel}: the model's own, kept")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    written.append(rel)


def _validate(folder: Path, project: ProjectConfig) -> None:
    problems: list[ConfigProblem] = []
    load_model(folder, project, problems)
    if problems:
        raise ConfigError(problems)


def new_model(project: ProjectConfig, name: str, source: Path, *,
              force: bool = False) -> NewModel:
    """Make ``artifacts/<name>/`` from the trained model at ``source``."""
    target = _check_name(name, project)
    source = Path(source).expanduser().resolve()
    if (target.exists() or target.is_symlink()) and not force:
        raise ScaffoldError(f"{target} already exists: choose another name, or pass --force "
                            "to replace that model folder")
    if source == target.resolve() or target.resolve() in source.parents:
        raise ScaffoldError(f"--from {source} is inside {target}, the folder to make")
    project.artifacts_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.new-", dir=project.artifacts_dir))
    try:
        folder = staging / name
        with _source_folder(source, project) as (origin, single):
            copied = _copy(origin, single, folder)
        handler = folder / HANDLER
        found = guess(folder, handler if handler.is_file() else None)
        written: list[str] = []
        notes: list[str] = []
        declared = _declared(folder)
        warnings = [*found.warnings, *(_pin_conflicts(declared, found) if declared else [])]
        if not handler.is_file():
            _write(folder, HANDLER, render_handler(name, found), written, notes)
        _write(folder, REQUIREMENTS_IN,
               render_requirements(name, found.requirements, declared), written, notes)
        body, how = render_sample(found)
        if not (folder / SAMPLE_BODY).exists():
            notes.append(how)
        _write(folder, SAMPLE_BODY, body, written, notes)
        _write(folder, MODEL_CONFIG_NAME, render_config(name, found, handler=HANDLER),
               written, notes)
        _validate(folder, project)
        if target.exists() or target.is_symlink():
            target.rename(staging / f"{name}.replaced")
        folder.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return NewModel(folder=target, guess=found, copied=copied, written=tuple(written),
                    notes=tuple(notes), warnings=tuple(warnings))
