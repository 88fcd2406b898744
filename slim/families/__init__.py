"""Model families, looked up by name; each module registers its family on import."""
from __future__ import annotations

from lite.errors import LiteError

from slim.families import cls, det, rec  # noqa: F401 - each registers its family
from slim.families.base import FAMILIES, Family


def get_family(task: str) -> Family:
    """A fresh adapter per job (rec keeps the model's dictionary and input height)."""
    if task not in FAMILIES:
        raise LiteError(f"slim: no model family {task!r}; this version knows {', '.join(sorted(FAMILIES))}")
    return FAMILIES[task]()


def by_cli_name(name: str) -> Family:
    """The family a CLI job name means (`slim quant det_mobile` -> det)."""
    for fam in FAMILIES.values():
        if fam.cli_name == name:
            return fam()
    raise LiteError(f"slim: no job for {name!r}; this version has {', '.join(cli_names())}")


def cli_names() -> list[str]:
    return [fam.cli_name for fam in FAMILIES.values()]
