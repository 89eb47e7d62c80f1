"""The staff desk's routes, served under the path of `CAREBOT_WEBAPP_URL` when it is set.

`GET <path>/…` answers the page shell (no data: its script asks for the views with the caller's initData),
`GET <path>/view/…` the views, `POST <path>/act/…` the actions, `GET <path>/file/<n>` a ticket message's file,
`<path>/static/…` the pinned CSS and script.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.context import CarebotApp
from bot.web import customers, reports, tickets
from bot.web.desk import STATIC_DIR, Caller, Desk, staff_page, templates

Handler = Callable[[Desk, Request, Caller], Awaitable[Response]]
CSP = (
    "default-src 'self'; script-src 'self' https://telegram.org; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
)


def routes(app: CarebotApp) -> list[BaseRoute]:
    """The desk's routes, or none when `CAREBOT_WEBAPP_URL` is not set."""
    if not app.bot_data["services"].settings.webapp_url:
        return []
    desk = Desk(app)

    def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request, caller: Caller) -> Response:
            return await handler(desk, request, caller)

        return staff_page(desk, serve)

    async def shell(_request: Request) -> Response:
        html = templates.get_template("shell.html").render(base=desk.base)
        return HTMLResponse(html, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"})

    inside: list[BaseRoute] = [
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="desk-static"),
        Route("/view/queue", page(tickets.queue_page), methods=["GET"]),
        Route("/view/ticket/{number:int}", page(tickets.ticket_page), methods=["GET"]),
        Route("/act/ticket/{number:int}/{action:str}", page(tickets.ticket_action), methods=["POST"]),
        Route("/file/{message_id:int}", page(tickets.message_file), methods=["GET"]),
        Route("/view/customer/{customer_id:int}", page(customers.customer_page), methods=["GET"]),
        Route("/act/customer/{customer_id:int}/{action:str}", page(customers.customer_action), methods=["POST"]),
        Route("/view/search", page(customers.search_page), methods=["GET", "POST"]),
        Route("/view/reports", page(reports.reports_page), methods=["GET"]),
        Route("/chart/{days:int}/{number:int}", page(reports.chart), methods=["GET"]),
        Route("/", shell, methods=["GET"]),
        Route("/{page:path}", shell, methods=["GET"]),
    ]
    return [Mount(desk.base, routes=inside)]
