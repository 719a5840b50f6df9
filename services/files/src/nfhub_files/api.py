from fastapi import APIRouter

from nfhub_files.blobs.endpoints import router as blobs_router
from nfhub_files.files.endpoints import router as files_router

routers: list[APIRouter] = [files_router]
root_routers: list[APIRouter] = [blobs_router]
