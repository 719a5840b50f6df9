"""The Files pages: a project's folders (paged, with breadcrumbs), new folders, copy, move,
delete, downloads and zip archives through forms; and the few JSON calls the page's script
makes to upload straight to the files service's signed URLs (the bytes never pass through web,
and the user's token never reaches the browser)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from nfhub_web.apis import ApiProblem
from nfhub_web.deps import CheckedProjectSession, ProjectSession
from nfhub_web.files.schemas import (
    FILES_PER_PAGE,
    MAX_PATH,
    UploadFinish,
    UploadStart,
    as_folder,
    breadcrumbs,
    folder_url,
)
from nfhub_web.files.service import FilesService
from nfhub_web.pages import MAX_OFFSET, problem_response, render
from nfhub_web.sessions.service import ActiveSession
from nfhub_web.state import ApisDep, SettingsDep

router = APIRouter()

FolderQuery = Annotated[str, Query(max_length=MAX_PATH)]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
PathForm = Annotated[str, Form(max_length=MAX_PATH)]
# Refusals a form shows beside what it names; anything else is the error page's.
SHOWN_IN_PLACE = frozenset({400, 403, 404, 409, 413, 422})


async def listing_page(
    request: Request,
    session: ActiveSession,
    service: FilesService,
    settings: SettingsDep,
    folder: str,
    offset: int = 0,
    *,
    problem: ApiProblem | None = None,
    problem_for: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The folder's page; ``problem``: a form's refusal, shown beside ``problem_for`` (a row's
    path, or the form's name)."""
    folder = as_folder(folder)
    entries = await service.list_folder(folder, offset)
    in_a_row = problem_for is not None and any(e.path == problem_for for e in entries.items)
    return render(
        request,
        "files/list.html",
        session,
        status_code=problem.status if problem else 200,
        folder=folder,
        offset=offset,
        entries=entries,
        crumbs=breadcrumbs(folder),
        per_page=FILES_PER_PAGE,
        page_prefix=folder_url(folder) + ("&" if folder else "?") + "offset=",
        problem=problem,
        problem_for=problem_for,
        problem_in_row=in_a_row,
        values=values or {},
        zip_name=(folder.rstrip("/").rsplit("/", 1)[-1] or "files") + ".zip",
        multipart_bytes=settings.UPLOAD_MULTIPART_BYTES,
    )


@router.get("/files")
async def list_files(
    request: Request,
    session: ProjectSession,
    apis: ApisDep,
    settings: SettingsDep,
    path: FolderQuery = "",
    offset: OffsetQuery = 0,
) -> Response:
    return await listing_page(request, session, FilesService(apis, session), settings, path, offset)


@router.get("/files/listing")
async def list_files_fragment(
    request: Request,
    session: ProjectSession,
    apis: ApisDep,
    path: FolderQuery = "",
    offset: OffsetQuery = 0,
) -> Response:
    """The listing alone: what the page swaps in once its uploads are done."""
    folder = as_folder(path)
    entries = await FilesService(apis, session).list_folder(folder, offset)
    return render(
        request,
        "files/_listing.html",
        session,
        folder=folder,
        offset=offset,
        entries=entries,
        per_page=FILES_PER_PAGE,
        page_prefix=folder_url(folder) + ("&" if folder else "?") + "offset=",
        problem=None,
        problem_for=None,
        values={},
    )


@router.post("/files/folders")
async def create_folder(
    request: Request,
    session: CheckedProjectSession,
    apis: ApisDep,
    settings: SettingsDep,
    name: PathForm,
    folder: PathForm = "",
) -> Response:
    service = FilesService(apis, session)
    folder = as_folder(folder)
    try:
        await service.create_folder(folder + name)
    except ApiProblem as problem:
        if problem.status not in SHOWN_IN_PLACE:
            raise
        return await listing_page(
            request,
            session,
            service,
            settings,
            folder,
            problem=problem,
            problem_for="new-folder",
            values={"name": name},
        )
    return RedirectResponse(folder_url(folder), status_code=303)


@router.post("/files/transfer")
async def transfer_file(
    request: Request,
    session: CheckedProjectSession,
    apis: ApisDep,
    settings: SettingsDep,
    src: PathForm,
    dst: PathForm,
    action: Annotated[Literal["copy", "move"], Form()],
    folder: PathForm = "",
    overwrite: Annotated[bool, Form()] = False,
) -> Response:
    """Copy or move a file or folder (the row's form), then back to the folder."""
    service = FilesService(apis, session)
    try:
        await service.transfer(src, dst, overwrite=overwrite, move=action == "move")
    except ApiProblem as problem:
        if problem.status not in SHOWN_IN_PLACE:
            raise
        return await listing_page(
            request,
            session,
            service,
            settings,
            folder,
            problem=problem,
            problem_for=src,
            values={"dst": dst},
        )
    return RedirectResponse(folder_url(as_folder(folder)), status_code=303)


@router.get("/files/delete")
async def confirm_delete(
    request: Request,
    session: ProjectSession,
    path: Annotated[str, Query(max_length=MAX_PATH)],
    folder: FolderQuery = "",
) -> Response:
    """Deleting cannot be undone (a folder's goes with everything in it): the user says so
    once more, on a page that needs no script."""
    return render(
        request,
        "files/delete.html",
        session,
        path=path,
        folder=as_folder(folder),
        back=folder_url(as_folder(folder)),
    )


@router.post("/files/delete")
async def delete_file(
    request: Request,
    session: CheckedProjectSession,
    apis: ApisDep,
    settings: SettingsDep,
    path: PathForm,
    folder: PathForm = "",
) -> Response:
    service = FilesService(apis, session)
    try:
        await service.delete(path)
    except ApiProblem as problem:
        if problem.status not in SHOWN_IN_PLACE:
            raise
        return await listing_page(
            request, session, service, settings, folder, problem=problem, problem_for=path
        )
    return RedirectResponse(folder_url(as_folder(folder)), status_code=303)


@router.get("/files/download")
async def download_file(
    session: ProjectSession, apis: ApisDep, path: Annotated[str, Query(max_length=MAX_PATH)]
) -> Response:
    """To the file's signed URL: the browser fetches the bytes from the files service."""
    url = await FilesService(apis, session).download_url(path)
    return RedirectResponse(url, status_code=303)


@router.post("/files/archives")
async def create_archive(
    request: Request,
    session: CheckedProjectSession,
    apis: ApisDep,
    settings: SettingsDep,
    name: Annotated[str, Form(max_length=1000)],
    folder: PathForm = "",
    paths: Annotated[list[str] | None, Form(max_length=1000)] = None,
) -> Response:
    """Zip the rows picked (the files API builds it as a job); its page follows it."""
    service = FilesService(apis, session)
    try:
        archive = await service.create_archive(paths or [], name)
    except ApiProblem as problem:
        if problem.status not in SHOWN_IN_PLACE:
            raise
        return await listing_page(
            request,
            session,
            service,
            settings,
            folder,
            problem=problem,
            problem_for="archive",
            values={"archive_name": name},
        )
    return RedirectResponse(f"/files/archives/{archive.id}", status_code=303)


@router.get("/files/archives/{archive_id}")
async def get_archive(
    request: Request,
    archive_id: uuid.UUID,
    session: ProjectSession,
    apis: ApisDep,
    settings: SettingsDep,
) -> Response:
    return await _archive(request, archive_id, session, apis, settings, "files/archive.html")


@router.get("/files/archives/{archive_id}/status")
async def get_archive_status(
    request: Request,
    archive_id: uuid.UUID,
    session: ProjectSession,
    apis: ApisDep,
    settings: SettingsDep,
) -> Response:
    """The archive's status part: what its page polls until the zip is ready."""
    return await _archive(
        request, archive_id, session, apis, settings, "files/_archive_status.html"
    )


async def _archive(
    request: Request,
    archive_id: uuid.UUID,
    session: ProjectSession,
    apis: ApisDep,
    settings: SettingsDep,
    template: str,
) -> Response:
    """The archive read once, rendered as its page or as the part the page polls."""
    archive = await FilesService(apis, session).get_archive(archive_id)
    return render(request, template, session, archive=archive, poll_seconds=settings.POLL_SECONDS)


# The page's script: JSON in, JSON (or problem+json) out, the CSRF token in X-CSRF-Token.


def problem_json(problem: ApiProblem) -> Response:
    """The files API's refusal as the script shows it, beside the file it names."""
    detail = problem.detail
    if problem.status == 401:
        detail = "Your login has ended: reload the page to log in again."
    return problem_response(problem.status, detail, title=problem.title, errors=problem.errors)


async def script_answer(answer: Awaitable[BaseModel | None], status_code: int = 200) -> Response:
    """The files API's answer as the script reads it: JSON (no content for none), or the
    API's refusal as problem+json."""
    try:
        result = await answer
    except ApiProblem as problem:
        return problem_json(problem)
    if result is None:
        return Response(status_code=204)
    return JSONResponse(result.model_dump(mode="json"), status_code=status_code)


@router.post("/files/uploads")
async def start_upload(
    upload: UploadStart, session: CheckedProjectSession, apis: ApisDep
) -> Response:
    """A signed URL to PUT one (small) file in one request."""
    return await script_answer(FilesService(apis, session).upload_url(upload))


@router.post("/files/uploads/multipart")
async def start_multipart_upload(
    upload: UploadStart, session: CheckedProjectSession, apis: ApisDep
) -> Response:
    """A large file's upload in parts, each with its signed URL."""
    return await script_answer(FilesService(apis, session).start_multipart(upload), status_code=201)


@router.get("/files/uploads/multipart/{upload_id}")
async def get_multipart_upload(
    upload_id: uuid.UUID, session: ProjectSession, apis: ApisDep
) -> Response:
    """Which parts the store holds and fresh URLs for the rest: how a reloaded page resumes."""
    return await script_answer(FilesService(apis, session).get_multipart(upload_id))


@router.post("/files/uploads/multipart/{upload_id}/complete")
async def complete_multipart_upload(
    upload_id: uuid.UUID, finish: UploadFinish, session: CheckedProjectSession, apis: ApisDep
) -> Response:
    return await script_answer(FilesService(apis, session).complete_multipart(upload_id, finish))


@router.delete("/files/uploads/multipart/{upload_id}")
async def abort_multipart_upload(
    upload_id: uuid.UUID, session: CheckedProjectSession, apis: ApisDep
) -> Response:
    return await script_answer(FilesService(apis, session).abort_multipart(upload_id))
