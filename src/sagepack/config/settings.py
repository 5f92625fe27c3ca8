"""Everything sagepack knows about a project, read once: :func:`load` -> :class:`Settings`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagepack.config.model import MODEL_CONFIG_NAME, ModelConfig, load_model
from sagepack.config.project import ProjectConfig, apply_overrides, load_project
from sagepack.errors import ConfigError, ConfigProblem


@dataclass(frozen=True)
class Settings:
    """Everything sagepack knows about a project, read once."""

    project: ProjectConfig
    models: Mapping[str, ModelConfig]

    def select(self, name: str | None) -> list[ModelConfig]:
        """The models a ``--model`` flag names (all of them when ``None``)."""
        if name is None:
            return [self.models[k] for k in sorted(self.models)]
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise ConfigError([ConfigProblem(self.project.artifacts_dir / name, "",
                                             f"no model named '{name}' (found: {known})")])
        return [self.models[name]]

    def select_one(self, name: str | None) -> ModelConfig:
        """The one model a command works on: ``name``, or the only model there is."""
        models = self.select(name)
        if len(models) != 1:
            raise ConfigError([ConfigProblem(self.project.artifacts_dir, "",
                                             "several models: name one with --model ("
                                             + ", ".join(m.name for m in models) + ")")])
        return models[0]


def load(root: Path | str = ".", env: Mapping[str, str] | None = None,
         **overrides: Any) -> Settings:
    """Read the project at ``root`` once. ``overrides`` are CLI flags (``region=...``);
    ``None`` values mean "not given" and are ignored."""
    root = Path(root).resolve()
    environ = dict(os.environ) if env is None else dict(env)
    problems: list[ConfigProblem] = []
    project = load_project(root, environ, problems)
    given = {k: v for k, v in overrides.items() if v is not None}
    if given:
        project = apply_overrides(project, given)
    models: dict[str, ModelConfig] = {}
    if project.artifacts_dir.is_dir():
        for folder in sorted(project.artifacts_dir.iterdir()):
            if (folder / MODEL_CONFIG_NAME).is_file():
                model = load_model(folder, project, problems)
                if model is not None:
                    models[model.name] = model
    else:
        problems.append(ConfigProblem(project.config_file, "tool.sagepack.artifacts_dir",
                                      f"path does not exist: {project.artifacts_dir}"))
    problems.extend(_check_test_models(models))
    if problems:
        raise ConfigError(problems)
    return Settings(project=project, models=models)


def load_project_only(root: Path | str = ".",
                      env: Mapping[str, str] | None = None) -> ProjectConfig:
    """``[tool.sagepack]`` alone, for commands that read no model (``invoke new``)."""
    problems: list[ConfigProblem] = []
    project = load_project(Path(root).resolve(), dict(os.environ) if env is None else env,
                           problems)
    if problems:
        raise ConfigError(problems)
    return project


def _check_test_models(models: Mapping[str, ModelConfig]) -> list[ConfigProblem]:
    """A multi-model image's ``test_models`` name other, single-model models of the project."""
    problems: list[ConfigProblem] = []
    for model in models.values():
        for other in model.test_models:
            found = models.get(other)
            if found is None or found.multi_model:
                what = "no such model" if found is None else "a multi-model image itself"
                known = ", ".join(sorted(k for k, m in models.items() if not m.multi_model))
                problems.append(ConfigProblem(model.config_file, "test_models",
                                              f"{other!r}: {what} (single-model models: "
                                              f"{known or 'none'})"))
    return problems
