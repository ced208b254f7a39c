"""Local stand-in for S3's presigned URLs: PUT and GET ``/files/<key>`` with a signed query.

Mounted for a blob store whose presigned URLs point here (``BlobStore.serves_presigned_urls``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse

from tonearm.audio.errors import InputTooLargeError
from tonearm.audio.limits import DEFAULT_LIMITS
from tonearm.ports import BlobNotFoundError, BlobStore


def local_files_router(store: BlobStore) -> APIRouter:
    """Routes that serve ``store``'s signed URLs."""
    router = APIRouter(tags=["Local storage"], include_in_schema=False)

    @router.put("/files/{key:path}")
    async def put_file(
        key: str,
        request: Request,
        method: Annotated[str, Query()] = "",
        expires: Annotated[str, Query()] = "",
        sig: Annotated[str, Query()] = "",
    ) -> Response:
        store.verify_presigned("PUT", key, expires=expires, sig=sig)
        declared = int(request.headers.get("content-length") or 0)
        limit = DEFAULT_LIMITS.max_bytes
        if declared > limit:
            raise InputTooLargeError(f"upload is {declared} bytes; the limit is {limit} bytes")
        target = store.local_path(key)
        assert target is not None  # mounted only for a store that keeps its objects in local files
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        written = 0
        with part.open("wb") as f:
            async for chunk in request.stream():
                written += len(chunk)
                if written > limit:
                    f.close()
                    part.unlink(missing_ok=True)
                    raise InputTooLargeError(f"upload passed the limit of {limit} bytes")
                f.write(chunk)
        part.replace(target)
        return Response(status_code=200)

    @router.get("/files/{key:path}")
    def get_file(
        key: str,
        method: Annotated[str, Query()] = "",
        expires: Annotated[str, Query()] = "",
        sig: Annotated[str, Query()] = "",
    ) -> FileResponse:
        store.verify_presigned("GET", key, expires=expires, sig=sig)
        path = store.local_path(key)
        if path is None or not path.is_file():
            raise BlobNotFoundError(f"no object {key!r}")
        return FileResponse(path, filename=path.name)

    return router
