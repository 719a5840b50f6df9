from fastapi import APIRouter

from nfhub_miner.orders.endpoints import router as orders_router
from nfhub_miner.samples.endpoints import router as samples_router
from nfhub_miner.subjects.endpoints import router as subjects_router
from nfhub_miner.webhooks.endpoints import router as webhooks_router

routers: list[APIRouter] = [subjects_router, samples_router, orders_router, webhooks_router]
