from fastapi import APIRouter

from nfhub_files.archives.endpoints import router as archives_router
from nfhub_files.blobs.endpoints import router as blobs_router
from nfhub_files.files.download_url import router as download_url_router
from nfhub_files.files.endpoints import router as files_router
from nfhub_files.multipart.endpoints import router as multipart_router

routers: list[APIRouter] = [download_url_router, multipart_router, archives_router, files_router]
root_routers: list[APIRouter] = [blobs_router]
