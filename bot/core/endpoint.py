"""The model endpoint: one check at start-up, and the true cause of every failure, in a sentence.

A wrong key, a wrong model name, a wrong URL and a server that is not running all end the same
way for a customer (basic mode answers), so the operator must be told which one it is. The SDK
does not say: through its aiohttp transport a refused connection or an unknown host arrives as
``APITimeoutError``, so ``failure_cause`` reads the whole chain of causes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from typing import Any

import openai
from openai import AsyncOpenAI

logger = logging.getLogger(__name__)

#: While the start-up check fails, the endpoint is checked again this often (seconds).
RECHECK_SECONDS = 60.0
#: Questions in a row whose model request failed (an error, no answer in time) after which the
#: endpoint is taken as down: later questions go to basic mode at once, not after a timeout.
FAILURES_TO_TRIP = 3
#: The request the check sends: the answer's own shape (a tool), a few tokens.
PING = [{"role": "user", "content": "ping"}]


def failure_cause(error: BaseException, *, url: str, model: str,
                  timeout: float | None = None) -> str:
    """One sentence saying why a request to the model endpoint failed."""
    network = _network_failure(error)
    if network is not None:
        return _network_cause(*network, url)
    if isinstance(error, openai.APIStatusError):
        return _status_cause(error, url, model)
    if isinstance(error, openai.APITimeoutError):
        within = f" within {timeout:g} s" if timeout else ""
        return f"no answer from {url}{within} (OPENAI_TIMEOUT)"
    if isinstance(error, openai.APIConnectionError):
        return f"cannot connect to {url}: {_causes(error)[-1]}"
    if isinstance(error, ValueError):
        return f"{url} answered with something that is not JSON"
    return f"{type(error).__name__} from {url}: {error}"


def failure_kind(error: BaseException) -> str:
    """What kind of failure a request to the endpoint met, read as ``failure_cause`` reads it:
    ``"refused"`` (nothing listens), ``"unknown_host"``, ``"tls"``, ``"status"`` (the server
    answered with an HTTP error), ``"timeout"``, ``"connection"`` or ``"other"``."""
    network = _network_failure(error)
    if network is not None:
        return network[0]
    if isinstance(error, openai.APIStatusError):
        return "status"
    if isinstance(error, openai.APITimeoutError):
        return "timeout"
    if isinstance(error, openai.APIConnectionError):
        return "connection"
    return "other"


#: The network failures named on their own, by the exception somewhere in the chain.
_NETWORK_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, "refused"), (socket.gaierror, "unknown_host"),
    (ssl.SSLError, "tls"))


def _network_failure(error: BaseException) -> tuple[str, BaseException] | None:
    """The first network failure in ``error``'s chain, as (kind, the exception), or None."""
    for cause in _causes(error):
        for kind_of, kind in _NETWORK_KINDS:
            if isinstance(cause, kind_of):
                return kind, cause
    return None


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _network_cause(kind: str, cause: BaseException, url: str) -> str:
    if kind == "refused":
        return f"connection refused at {url}: nothing listens there (is the server running?)"
    if kind == "unknown_host":
        return f"the host of {url} cannot be found: check OPENAI_BASE_URL"
    return f"TLS with {url} failed ({cause.__class__.__name__}): check OPENAI_BASE_URL"


def _status_cause(error: openai.APIStatusError, url: str, model: str) -> str:
    status, code = error.status_code, _code(error)
    if status == 401:
        return f"API key refused by {url} (401): check OPENAI_API_KEY"
    if status == 403:
        return f"API key not allowed to use model {model} at {url} (403)"
    if status == 404 and (code in ("model_not_found", "DeploymentNotFound")
                          or "model" in _message(error).lower()):
        return f"model {model} not found at {url}: check OPENAI_MODEL"
    if status == 404:
        return (f"no OpenAI-compatible API at {url} (404): check OPENAI_BASE_URL (it usually "
                "ends in /v1)")
    if status == 429:
        return f"{url} refused for rate or quota (429{', ' + code if code else ''})"
    if status >= 500:
        return f"server error {status} at {url}"
    return f"request refused by {url} ({status}: {_message(error)[:200]})"


def _code(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("code"), str):
            return inner["code"]
        if isinstance(body.get("code"), str):
            return body["code"]
    return str(getattr(error, "code", "") or "")


def _message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
    return str(error.message)


async def probe(client: AsyncOpenAI, model: str, *, tools: list[dict[str, Any]],
                timeout: float, chat: bool = False) -> str | None:
    """None when the endpoint serves ``model``; else the cause in one sentence.

    The models list answers first (no tokens spent): a model it names is served. A server
    without that list, or one that names the model differently (Ollama's ``llama3.1`` is listed
    as ``llama3.1:latest``), gets one small chat request with the answer's tools. With
    ``chat`` the chat request is always sent: a server can list its models and still not
    answer chats in time.
    """
    url = str(client.base_url).rstrip("/")
    try:
        served: list[str] = await _served_models(client, timeout)
    except openai.APIStatusError as error:
        if error.status_code not in (404, 405):  # 404/405: this server has no models list
            return failure_cause(error, url=url, model=model, timeout=timeout)
        served = []
    except (openai.OpenAIError, ValueError) as error:
        return failure_cause(error, url=url, model=model, timeout=timeout)
    if model in served and not chat:
        return None
    body = {"model": model, "messages": PING, "tools": tools, "tool_choice": "none"}
    try:
        await client.post("/chat/completions", cast_to=object, body=body,
                          options={"timeout": timeout, "max_retries": 0})
    except (openai.OpenAIError, ValueError) as error:
        cause = failure_cause(error, url=url, model=model, timeout=timeout)
        if served and cause.startswith(f"model {model} not found"):
            cause += f" (it serves: {', '.join(served[:10])})"
        return cause
    return None


async def _served_models(client: AsyncOpenAI, timeout: float) -> list[str]:
    """The model ids the endpoint lists (``GET /models``); raises what the request raises."""
    listed = await client.get("/models", cast_to=object,
                              options={"timeout": timeout, "max_retries": 0})
    data = listed.get("data") if isinstance(listed, dict) else None
    if not isinstance(data, list):
        return []
    return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]


class EndpointWatch:
    """Whether the chat model may be asked: off (basic mode) from a failed start-up check, or
    from ``FAILURES_TO_TRIP`` questions in a row whose request failed, until a later check
    passes; checks repeat every ``every`` seconds while it is off."""

    def __init__(self, client: AsyncOpenAI, model: str, *, tools: list[dict[str, Any]],
                 timeout: float, every: float = RECHECK_SECONDS) -> None:
        self.client, self.model, self.tools = client, model, tools
        self.timeout, self.every = timeout, every
        self.problem: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._failures = 0

    def failed(self, cause: str) -> None:
        """A question's model request failed (``cause``, one sentence); after
        ``FAILURES_TO_TRIP`` in a row the endpoint is taken as down and checked again."""
        self._failures += 1
        if self.problem is not None or self._failures < FAILURES_TO_TRIP:
            return
        self.problem = cause
        logger.error("model endpoint: %s (%d questions in a row). Answering in basic mode "
                     "until it answers (checked every %g s).", cause, self._failures, self.every)
        self._task = asyncio.create_task(self._recheck(), name="model-endpoint-check")

    def answered(self) -> None:
        """A question's model request was answered."""
        self._failures = 0

    @property
    def url(self) -> str:
        return str(self.client.base_url).rstrip("/")

    async def start(self) -> str | None:
        """Check once and log one sentence; on failure keep checking in the background."""
        self.problem = await probe(self.client, self.model, tools=self.tools,
                                   timeout=self.timeout)
        if self.problem is None:
            logger.info("model endpoint ready: %s at %s", self.model, self.url)
            return None
        logger.error("model endpoint: %s. Answering in basic mode until it answers "
                     "(checked every %g s).", self.problem, self.every)
        self._task = asyncio.create_task(self._recheck(), name="model-endpoint-check")
        return self.problem

    async def _recheck(self) -> None:
        while self.problem is not None:
            await asyncio.sleep(self.every)
            problem = await probe(self.client, self.model, tools=self.tools,
                                  timeout=self.timeout, chat=True)
            if problem is None:
                logger.info("model endpoint answers now: %s at %s; the model answers again",
                            self.model, self.url)
                self._failures = 0
            elif problem != self.problem:
                logger.error("model endpoint: %s", problem)
            self.problem = problem

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
