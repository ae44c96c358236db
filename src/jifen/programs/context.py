"""The program as a request sees it: id and validated settings, loaded once."""

from __future__ import annotations

from dataclasses import dataclass

from jifen.programs.models import Program
from jifen.programs.schemas import ProgramSettings


@dataclass(frozen=True, slots=True)
class ProgramContext:
    id: str
    name: str
    settings: ProgramSettings
    settings_version: int


def to_context(program: Program) -> ProgramContext:
    return ProgramContext(
        id=program.id,
        name=program.name,
        settings=ProgramSettings.model_validate(program.settings),
        settings_version=program.settings_version,
    )
