"""Placeholder: the marriage router is being built (see the open issue)."""

from fastapi import APIRouter

from api.route import TransactionalRoute

router = APIRouter(route_class=TransactionalRoute)
public_router = APIRouter(route_class=TransactionalRoute)
