"""A throw-away webhook handler for rehearsing callbacks: prints each task document it gets.

    .venv/bin/uvicorn --app-dir examples webhook_receiver:app --port 8443 \
        --ssl-certfile certs/localhost-cert.pem --ssl-keyfile certs/localhost-key.pem
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hook(request: Request) -> JSONResponse:
    task = await request.json()
    print(f"callback: {task['id']} {task['status']} {task.get('error', {}).get('code', '')}", flush=True)
    return JSONResponse({"received": task["id"]})


app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
