"""``FakeRequest``: a PTB request backend that hands calls to a :class:`FakeTelegram` in-process."""

from __future__ import annotations

import asyncio
import json
from typing import IO
from urllib.parse import unquote, urlsplit

from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

from tests.botapi.models import UploadedFile
from tests.botapi.state import FakeTelegram

NOT_FOUND = json.dumps({"ok": False, "error_code": 404, "description": "Not Found"}).encode()


class FakeRequest(BaseRequest):
    """No sockets: ``Bot(token, request=FakeRequest(tg))`` or
    ``Application.builder().token(t).request(FakeRequest(tg)).get_updates_request(FakeRequest(tg))``.

    Parameters travel as ``RequestData.json_parameters`` (exactly what goes over the wire) and
    uploads as their multipart parts. ``read_timeout`` is enforced like an HTTP client would
    (raising ``TimedOut``), which matters only with :meth:`FakeTelegram.delay_next`.
    """

    def __init__(self, tg: FakeTelegram, *, read_timeout: float | None = 5.0) -> None:
        self.tg = tg
        self._read_timeout = read_timeout
        self.initialized = False

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        self.initialized = True

    async def shutdown(self) -> None:
        self.initialized = False

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        path = unquote(urlsplit(url).path)
        if path.startswith("/file/bot"):
            _token, _, file_path = path.removeprefix("/file/bot").partition("/")
            content = self.tg.download(file_path)
            return (404, NOT_FOUND) if content is None else (200, content)
        token, _, api_method = path.removeprefix("/bot").partition("/")
        params = request_data.json_parameters if request_data else {}
        files = _files(request_data) if request_data and request_data.contains_files else {}
        timeout = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        try:
            async with asyncio.timeout(timeout):
                status, body = await self.tg.handle(api_method, params, files, token=token)
        except TimeoutError as error:
            raise TimedOut(f"FakeRequest: no answer to {api_method} within {timeout}s") from error
        return status, json.dumps(body).encode()


def _files(request_data: RequestData) -> dict[str, UploadedFile]:
    files: dict[str, UploadedFile] = {}
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        files[name] = UploadedFile(name, filename, _read(content), mime_type)
    return files


def _read(content: bytes | IO[bytes]) -> bytes:
    return content if isinstance(content, bytes) else content.read()
