"""I/O: HTTP with one client per run, and files confined to the run's work directory."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal

import attrs
import httpx
import trio

import dagmill
from dagmill_contrib_nodes._inputs import listed, single

_CLIENT = "dagmill_contrib_nodes.http"


def _http_url(instance: Any, attribute: Any, value: str) -> None:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"'{attribute.name}' must be an http:// or https:// URL: {value!r}")


@attrs.frozen
class HttpGetParams:
    url: str = attrs.field(validator=_http_url)
    """The URL to fetch."""
    timeout: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    """Seconds for the whole request."""
    expect: Literal["auto", "json", "text"] = "auto"
    """Output parsed JSON, text, or by the response's content type (auto)."""
    headers: dict[str, str] = attrs.field(factory=dict)
    """Extra request headers."""


@attrs.frozen
class HttpPostParams:
    url: str = attrs.field(validator=_http_url)
    """The URL to post to."""
    json: Any = None
    """The JSON body; without it (null), the node's one input is posted as JSON."""
    timeout: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    """Seconds for the whole request."""
    expect: Literal["auto", "json", "text"] = "auto"
    """Output parsed JSON, text, or by the response's content type (auto)."""
    headers: dict[str, str] = attrs.field(factory=dict)
    """Extra request headers."""


async def _client(ctx: dagmill.NodeContext) -> httpx.AsyncClient:
    return await ctx.shared(_CLIENT, httpx.AsyncClient)


def _read(response: httpx.Response, expect: str, what: str) -> Any:
    if response.is_error:
        raise RuntimeError(f"{what}: HTTP {response.status_code} {response.reason_phrase}")
    wants_json = expect == "json" or (expect == "auto" and "json" in response.headers.get("content-type", ""))
    if not wants_json:
        return response.text
    try:
        return response.json()
    except ValueError as exc:
        raise ValueError(f"{what}: the response is not JSON: {exc}") from None


async def _request(ctx: dagmill.NodeContext, method: str, url: str, timeout: float, **options: Any) -> httpx.Response:
    client = await _client(ctx)
    try:
        return await client.request(method, url, timeout=timeout, **options)
    except httpx.TimeoutException:
        raise TimeoutError(f"{method} {url}: no response within {timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise ConnectionError(f"{method} {url}: {exc}") from None


@dagmill.node_type("http_get", params=HttpGetParams)
async def http_get(params: HttpGetParams, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """GET a URL; output its JSON or text. An HTTP error status fails the node."""
    response = await _request(ctx, "GET", params.url, params.timeout, headers=params.headers)
    return _read(response, params.expect, f"GET {params.url}")


@dagmill.node_type("http_post", params=HttpPostParams)
async def http_post(params: HttpPostParams, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """POST JSON (params.json, or the one input) to a URL; output the response's JSON or text."""
    body = params.json if params.json is not None else single(inputs, "http_post")
    response = await _request(ctx, "POST", params.url, params.timeout, json=body, headers=params.headers)
    return _read(response, params.expect, f"POST {params.url}")


def _confined(instance: Any, attribute: Any, value: str) -> None:
    for flavour in (PurePosixPath, PureWindowsPath):
        path = flavour(value)
        if path.is_absolute() or path.drive or ".." in path.parts:
            raise ValueError(f"'{attribute.name}' must stay inside the run's work directory (relative, no '..'): {value!r}")
    if not value.strip():
        raise ValueError(f"'{attribute.name}' must name a file: {value!r}")


@attrs.frozen
class ReadFileParams:
    path: str = attrs.field(validator=_confined)
    """A file inside the run's work directory."""
    parse: Literal["text", "json"] = "text"
    """Output the text, or the parsed JSON."""


@attrs.frozen
class WriteFileParams:
    path: str = attrs.field(validator=_confined)
    """A file inside the run's work directory (parents are created)."""


def resolve_inside(ctx: dagmill.NodeContext, relative: str) -> Path:
    """``relative`` under the run's work directory, refused if a symlink leads outside it."""
    root = ctx.run_workdir.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise PermissionError(f"{relative!r} leads outside the run's work directory (to {target})")
    return target


@dagmill.node_type("read_file", params=ReadFileParams)
async def read_file(params: ReadFileParams, inputs: Any, ctx: dagmill.NodeContext) -> Any:
    """Read a file of the run's work directory; output its text or parsed JSON."""
    target = resolve_inside(ctx, params.path)
    try:
        content = await trio.Path(target).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"read_file: no file {params.path!r} in {ctx.run_workdir}") from None
    return json.loads(content) if params.parse == "json" else content


@dagmill.node_type("write_file", params=WriteFileParams)
async def write_file(params: WriteFileParams, inputs: Any, ctx: dagmill.NodeContext) -> str:
    """Write the inputs (text as is, anything else as JSON) to a file of the run's work directory; output its path."""
    items = listed(inputs)
    content = items[0] if len(items) == 1 else items
    text = content if isinstance(content, str) else json.dumps(content)
    ctx.run_workdir.mkdir(parents=True, exist_ok=True)
    target = resolve_inside(ctx, params.path)
    await trio.Path(target.parent).mkdir(parents=True, exist_ok=True)
    await trio.Path(target).write_text(text, encoding="utf-8")
    return str(target)


NODE_TYPES = (http_get, http_post, read_file, write_file)
