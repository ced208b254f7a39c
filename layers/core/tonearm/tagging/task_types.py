"""Looking task types up by name: the builtin ones (:mod:`tonearm.tagging.taxonomy`), then the custom heads.

A name that is not builtin is looked up among the installed heads (:mod:`tonearm.tagging.heads.lookup`),
so a head trained while the process runs is found on its next request. Task types no model here can
estimate (SAMI's ``Lang30``), unknown names and repeated ones are refused with
:class:`UnsupportedTaskTypeError`, naming the task types that are supported.

Like the modules it reads, this one imports only the standard library and pydantic at import time: the
zip API function validates workflow parameters with it, and finds no heads there.
"""

from __future__ import annotations

from tonearm.errors import TonearmError
from tonearm.tagging.heads.lookup import HeadStore, default_heads
from tonearm.tagging.taxonomy import NOT_ESTIMABLE, TASK_TYPES, TaskType

__all__ = ["UnsupportedTaskTypeError", "resolve_task_types"]


class UnsupportedTaskTypeError(TonearmError):
    """A task type no model here can estimate, or an unknown one."""

    code = "unsupported_task_type"
    status = 400


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
    seen: set[str] = set()
    out = []
    for name in names:
        if name in seen:
            raise UnsupportedTaskTypeError(f"task type {name!r} is requested twice")
        seen.add(name)
        task = TASK_TYPES.get(name)
        if task is None:
            store = heads if heads is not None else default_heads()
            task = store.get(name)
        if task is None:
            why = NOT_ESTIMABLE.get(name)
            reason = f"tonearm cannot estimate {name!r}: {why}" if why else f"unknown task type {name!r}"
            custom = ", ".join(store.names()) or "none installed (train one with `tonearm heads train`)"
            raise UnsupportedTaskTypeError(
                f"{reason}; supported task types: {', '.join(TASK_TYPES)}; custom task types: {custom}"
            )
        out.append(task)
    return out
