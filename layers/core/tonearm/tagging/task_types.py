"""Looking task types up by name: the builtin ones (:mod:`tonearm.tagging.taxonomy`), then the custom heads.

A name that is not builtin is looked up among the installed heads (:mod:`tonearm.tagging.heads.lookup`),
so a head trained while the process runs is found on its next request. Task types no model here can
estimate (SAMI's ``MusicTaggingLang30``), unknown names and repeated ones are refused with
:class:`UnsupportedTaskTypeError`, naming the task types that are supported.

:func:`plan_task_types` is the lenient form SAMI's API and the tagging workflow use: a task type no
model can estimate fails alone (its refusal takes its place in the plan) unless every requested one
does; unknown and repeated names still refuse the whole request.

Like the modules it reads, this one imports only the standard library and pydantic at import time: the
zip API function validates workflow parameters with it, and finds no heads there.
"""

from __future__ import annotations

from dataclasses import dataclass

from tonearm.errors import TonearmError
from tonearm.tagging.heads.lookup import HeadStore, default_heads
from tonearm.tagging.taxonomy import NOT_ESTIMABLE, TASK_TYPES, TaskType

__all__ = ["RefusedTask", "UnsupportedTaskTypeError", "plan_task_types", "resolve_task_types"]


class UnsupportedTaskTypeError(TonearmError):
    """A task type no model here can estimate, or an unknown one."""

    code = "unsupported_task_type"
    status = 400


@dataclass(frozen=True)
class RefusedTask:
    """A requested task type no model here can estimate (e.g. ``MusicTaggingLang30``): it fails alone."""

    name: str
    error: UnsupportedTaskTypeError


def plan_task_types(names: list[str], *, heads: HeadStore | None = None) -> list[TaskType | RefusedTask]:
    """Look the requested task types up; one no model here can estimate fails alone.

    Parameters
    ----------
    names : list of str
        Task type names, in request order (duplicates are refused).
    heads : HeadStore, optional
        Where custom heads are looked up; default: the process-wide store over the heads folder.

    Returns
    -------
    list of TaskType or RefusedTask
        In request order; a :class:`RefusedTask` (code ``unsupported_task_type``) for each task type
        listed in :data:`tonearm.tagging.taxonomy.NOT_ESTIMABLE`.

    Raises
    ------
    UnsupportedTaskTypeError
        A name is unknown or repeated, or no requested task type can be estimated; naming the
        supported task types, builtin and custom.
    HeadUnavailableError
        A custom head of that name is installed but damaged.
    """
    seen: set[str] = set()
    out: list[TaskType | RefusedTask] = []
    refused: list[RefusedTask] = []
    for name in names:
        if name in seen:
            raise UnsupportedTaskTypeError(f"task type {name!r} is requested twice")
        seen.add(name)
        task = TASK_TYPES.get(name)
        if task is None:
            task = _store(heads).get(name)
        if task is not None:
            out.append(task)
            continue
        why = NOT_ESTIMABLE.get(name)
        if why is None:
            raise UnsupportedTaskTypeError(f"unknown task type {name!r}; {_supported(heads)}")
        refusal = RefusedTask(name, UnsupportedTaskTypeError(f"tonearm cannot estimate {name!r}: {why}"))
        refused.append(refusal)
        out.append(refusal)
    if refused and len(refused) == len(out):
        raise UnsupportedTaskTypeError(f"{refused[0].error.message}; {_supported(heads)}")
    return out


def resolve_task_types(names: list[str], *, heads: HeadStore | None = None) -> list[TaskType]:
    """Look the requested task types up, refusing any that no model here can estimate.

    Builtin task types come first; a name that is not builtin is looked up among the custom heads
    (``tonearm.tagging.heads``), so a head trained while the process runs is found on its next request.

    Parameters
    ----------
    names : list of str
        Task type names, in request order (duplicates are refused).
    heads : HeadStore, optional
        Where custom heads are looked up; default: the process-wide store over the heads folder.

    Returns
    -------
    list of TaskType

    Raises
    ------
    UnsupportedTaskTypeError
        Naming the supported task types, builtin and custom.
    HeadUnavailableError
        A custom head of that name is installed but damaged.
    """
    out = []
    for entry in plan_task_types(names, heads=heads):
        if isinstance(entry, RefusedTask):
            raise UnsupportedTaskTypeError(f"{entry.error.message}; {_supported(heads)}")
        out.append(entry)
    return out


def _store(heads: HeadStore | None) -> HeadStore:
    return heads if heads is not None else default_heads()


def _supported(heads: HeadStore | None) -> str:
    custom = ", ".join(_store(heads).names()) or "none installed (train one with `tonearm heads train`)"
    return f"supported task types: {', '.join(TASK_TYPES)}; custom task types: {custom}"
