"""What the image checks need from a model's configuration, checked before any container
starts: one :class:`~sagepack.errors.ConfigError` listing every problem, naming the file and
the field, rather than a failed check per problem."""

from __future__ import annotations

from pathlib import Path

from sagepack.config import ModelConfig
from sagepack.errors import ConfigError, ConfigProblem


def _missing_file(path: Path, what: str) -> str | None:
    if path.is_file():
        return None
    state = "is not a file" if path.exists() else "does not exist"
    return f"{what} {path} {state}"


def config_problems(model: ModelConfig) -> list[ConfigProblem]:
    """Why the checks cannot run on ``model``'s configuration (empty when they can)."""
    file = model.config_file
    problems: list[ConfigProblem] = []
    if not model.samples and not model.multi_model:  # MME: the test models' samples
        problems.append(ConfigProblem(
            file, "samples", "no [[samples]] is configured, and the image checks need at "
            "least one: each sample is sent to the container and its response compared "
            "with the expected one"))
    for index, sample in enumerate(model.samples):
        for field, path in (("body", sample.body), ("expected", sample.expected)):
            problem = _missing_file(path, f"the {field} of sample {sample.name!r},") \
                if path is not None else None
            if problem:
                problems.append(ConfigProblem(file, f"samples[{index}].{field}", problem))
    validation = model.validation
    if validation is not None:
        for field, path in (("input", validation.input), ("expected", validation.expected)):
            if not path.exists():
                problems.append(ConfigProblem(
                    file, f"validation.{field}",
                    f"the validation transform's {field} {path} does not exist"))
    return problems


def check_config(model: ModelConfig) -> None:
    """Raise :class:`ConfigError` when the checks cannot run on ``model``'s configuration."""
    problems = config_problems(model)
    if problems:
        raise ConfigError(problems)
