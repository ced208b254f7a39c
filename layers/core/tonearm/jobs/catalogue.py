"""A set of workflows, looked up by slug, by ingest key or by the Lambda function that runs them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tonearm.jobs.errors import UnknownWorkflowError
from tonearm.jobs.spec import WorkflowSpec


class Catalogue:
    """The workflows one deployment serves (``tonearm.workflows.CATALOGUE``), by slug."""

    def __init__(self, specs: Iterable[WorkflowSpec]) -> None:
        self._specs: dict[str, WorkflowSpec] = {}
        for spec in specs:
            if spec.slug in self._specs:
                raise ValueError(f"two workflows are named {spec.slug!r}")  # a wiring fault, not input
            self._specs[spec.slug] = spec

    def __iter__(self) -> Iterator[WorkflowSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, slug: object) -> bool:
        return slug in self._specs

    @property
    def slugs(self) -> list[str]:
        """Every slug, sorted."""
        return sorted(self._specs)

    def get(self, slug: str) -> WorkflowSpec:
        """The workflow named ``slug``; raises ``UnknownWorkflowError`` listing the known ones."""
        try:
            return self._specs[slug]
        except KeyError:
            known = ", ".join(self.slugs)
            raise UnknownWorkflowError(f"unknown workflow {slug!r}; known workflows: {known}") from None

    def for_function(self, function: str) -> list[WorkflowSpec]:
        """The workflows whose task runs in the template's function ``function`` (logical id)."""
        return [spec for spec in self._specs.values() if spec.function == function]

    def for_ingest_key(self, key: str, *, prefix: str = "ingest/") -> WorkflowSpec | None:
        """The workflow an ingest object key belongs to (``ingest/<slug>/<name>``), longest slug first."""
        rest = key[len(prefix) :] if key.startswith(prefix) else ""
        for slug in sorted(self._specs, key=len, reverse=True):
            if rest.startswith(slug + "/") and len(rest) > len(slug) + 1:
                return self._specs[slug]
        return None
