"""A real HTTP server speaking the OpenAI API shapes, scripted by tests and benchmarks.

It refuses what the real API refuses (``openai_checks``) and answers in the shape of one family
of servers (``openai_personalities``): ``FakeOpenAI(personality="ollama")``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import inspect
import json
import math
import re
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeAlias

import imageio_ffmpeg
from aiohttp import web

from tests.fakes.openai_checks import Refusal, check_chat, unknown_model
from tests.fakes.openai_personalities import PERSONALITIES, Personality, shape_message
from tests.fakes.openai_stream import stream_chat, write_whole

Endpoint: TypeAlias = Literal["chat", "transcription", "speech"]
PATHS: dict[str, Endpoint] = {
    "/v1/chat/completions": "chat",
    "/v1/audio/transcriptions": "transcription",
    "/v1/audio/speech": "speech",
}
ERROR_TYPES = {429: "rate_limit_exceeded"}
#: The models every fake serves unless told otherwise: KRATOS's defaults and the tests' names.
DEFAULT_MODELS = ("gpt-4.1-mini", "gpt-4o-mini", "whisper-1", "gpt-4o-mini-transcribe",
                  "gpt-4o-transcribe", "tts-1", "gpt-4o-mini-tts")
AZURE_CHAT = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/chat/completions$")
SPEECH_FORMATS: dict[str, tuple[list[str], str]] = {
    "mp3": (["-c:a", "libmp3lame", "-f", "mp3"], "audio/mpeg"),
    "opus": (["-c:a", "libopus", "-f", "ogg"], "audio/ogg"),
    "aac": (["-c:a", "aac", "-f", "adts"], "audio/aac"),
    "flac": (["-c:a", "flac", "-f", "flac"], "audio/flac"),
    "wav": (["-c:a", "pcm_s16le", "-f", "wav"], "audio/wav"),
    "pcm": (["-c:a", "pcm_s16le", "-f", "s16le"], "audio/pcm"),
}


@dataclass
class UploadedFile:
    """A file received in a multipart upload."""

    name: str
    data: bytes
    content_type: str


@dataclass
class RecordedRequest:
    """One request as the server saw it, plus the status it answered."""

    method: str
    path: str
    headers: dict[str, str]
    json: dict[str, Any] | None = None
    form: dict[str, str] = field(default_factory=dict)
    file: UploadedFile | None = None
    status: int | None = None
    first_token_at: float | None = None  # perf_counter() when a stream's first piece left


@dataclass
class Reply:
    """An assistant text message; ``finish_reason="length"`` marks it cut by the token limit.

    A request's ``max_tokens`` cuts it too, when ``completion_tokens`` is above it.
    """

    text: str
    prompt_tokens: int = 100
    completion_tokens: int = 20
    finish_reason: str = "stop"
    cached_tokens: int | None = None  # reported as usage.prompt_tokens_details when set


@dataclass
class ToolCalls:
    """An assistant message calling tools: (name, JSON arguments, call id) triples."""

    calls: list[tuple[str, str, str]]
    prompt_tokens: int = 100
    completion_tokens: int = 20
    cached_tokens: int | None = None  # reported as usage.prompt_tokens_details when set


@dataclass
class Fail:
    """An error response in OpenAI's shape."""

    status: int
    retry_after: float | None = None
    message: str | None = None
    should_retry: bool | None = None


@dataclass
class Hang:
    """Sleep, then answer 504 (the client is expected to have given up)."""

    seconds: float


@dataclass
class Filtered:
    """Azure's content filter: ``content: null`` with ``finish_reason: "content_filter"``."""


@dataclass
class Garbage:
    """A 200 claiming JSON with a truncated body."""


#: A verbose_json segment as a test describes it: (text, no_speech_prob, avg_logprob).
SegmentSpec: TypeAlias = tuple[str, float, float]


@dataclass
class Transcribe:
    """A transcription text, fixed or computed from the recorded upload.

    ``segments`` are what ``verbose_json`` reports; without them the whole text is one segment
    the model is sure holds speech, as the real API reports clear speech.
    """

    text: str | Callable[[RecordedRequest], str | Awaitable[str]]
    segments: Sequence[SegmentSpec] | None = None


@dataclass
class Speak:
    """Synthesise the requested speech input (the speech default)."""


Step: TypeAlias = Reply | ToolCalls | Fail | Hang | Garbage | Filtered | Transcribe | Speak
ChatResponder: TypeAlias = Callable[[dict[str, Any]], Awaitable[Step | str] | Step | str]


def _error(status: int, message: str, *, code: str | None = None,
           headers: dict[str, str] | None = None, param: str | None = None) -> web.Response:
    """Build an error response with OpenAI's `{"error": {...}}` body."""
    err_type = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    body = {"error": {"message": message, "type": err_type, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _call_id() -> str:
    """A fresh tool call id in the API's style."""
    return f"call_{uuid.uuid4().hex[:24]}"


def _tool_args(arguments: dict[str, Any] | str) -> str:
    """Serialise tool arguments the way the API does (a JSON string)."""
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


async def synth_audio(text: str, fmt: str = "mp3") -> tuple[bytes, str]:
    """Render a sine tone whose length grows with `text` into `fmt`; return (bytes, mime)."""
    args, mime = SPEECH_FORMATS[fmt]
    duration = min(max(0.05 * len(text), 0.2), 10.0)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"speech.{fmt}"
        proc = await asyncio.create_subprocess_exec(
            imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "lavfi",
            "-i", f"sine=frequency=440:sample_rate=24000:duration={duration}", "-ac", "1",
            *args, "-y", str(out),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg failed: {err.decode(errors='replace')}")
        return out.read_bytes(), mime


def step_usage(step: Reply | ToolCalls) -> dict[str, Any]:
    """A step's ``usage``, with ``prompt_tokens_details`` when the step sets cached tokens."""
    body: dict[str, Any] = {"prompt_tokens": step.prompt_tokens,
                            "completion_tokens": step.completion_tokens,
                            "total_tokens": step.prompt_tokens + step.completion_tokens}
    if step.cached_tokens is not None:
        body["prompt_tokens_details"] = {"cached_tokens": step.cached_tokens, "audio_tokens": 0}
    return body


class FakeOpenAI:
    """Scriptable OpenAI API on 127.0.0.1, for use with a real `openai.AsyncOpenAI` client."""

    api_key: str = "test-key"

    def __init__(self, *, latency: float = 0.0, port: int = 0,
                 models: Sequence[str] = DEFAULT_MODELS,
                 personality: str | Personality = "openai",
                 tokens_per_second: float = 0.0) -> None:
        self.latency = latency  # seconds before answering; for a stream, to its first token
        self.tokens_per_second = tokens_per_second  # pace of a stream's pieces; 0: at once
        #: A server that cannot stream: 400 to ``stream: true`` (or its ``stream_options``).
        self.streams_refused = False
        self.port = port
        self.models = list(models)
        self.personality = PERSONALITIES[personality] if isinstance(personality, str) \
            else personality
        self.requests: list[RecordedRequest] = []
        self._queues: dict[str, deque[Step]] = {e: deque() for e in PATHS.values()}
        self._chat_default: ChatResponder | None = None
        self._transcription_default: Transcribe | None = None
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    @property
    def base_url(self) -> str:
        """The URL to pass as `base_url` to the OpenAI client."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def azure_endpoint(self) -> str:
        """The URL to pass as `azure_endpoint` to the Azure OpenAI client."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """JSON bodies of every chat completion request, in order."""
        return [r.json for r in self.requests if self._endpoint(r.path) == "chat"
                and r.json is not None]

    @property
    def transcription_requests(self) -> list[RecordedRequest]:
        """Every transcription request, in order."""
        return [r for r in self.requests if PATHS.get(r.path) == "transcription"]

    def remaining(self, endpoint: Endpoint = "chat") -> int:
        """How many scripted steps are still queued for `endpoint`."""
        return len(self._queues[endpoint])

    def push(self, step: Step, *, endpoint: Endpoint = "chat", times: int = 1) -> None:
        """Queue a raw step `times` times."""
        self._queues[endpoint].extend([step] * times)

    def reply(self, text: str, *, prompt_tokens: int = 100, completion_tokens: int = 20,
              cached_tokens: int | None = None) -> None:
        """Queue an assistant text reply (``cached_tokens``: of the prompt, from the cache)."""
        self.push(Reply(text, prompt_tokens, completion_tokens, cached_tokens=cached_tokens))

    def tool_call(self, name: str, arguments: dict[str, Any] | str, *,
                  call_id: str | None = None) -> None:
        """Queue an assistant message with a single tool call."""
        self.push(ToolCalls([(name, _tool_args(arguments), call_id or _call_id())]))

    def tool_calls(self, calls: list[tuple[str, dict[str, Any] | str]]) -> None:
        """Queue an assistant message with several tool calls."""
        self.push(ToolCalls([(n, _tool_args(a), _call_id()) for n, a in calls]))

    def fail(self, status: int, *, retry_after: float | None = None, times: int = 1,
             message: str | None = None, should_retry: bool | None = None,
             endpoint: Endpoint = "chat") -> None:
        """Queue error responses; `retry_after` sets `retry-after`/`retry-after-ms` headers."""
        self.push(Fail(status, retry_after, message, should_retry), endpoint=endpoint, times=times)

    def hang(self, seconds: float, times: int = 1, *, endpoint: Endpoint = "chat") -> None:
        """Queue requests that sleep `seconds` before answering 504."""
        self.push(Hang(seconds), endpoint=endpoint, times=times)

    def reply_cut(self, text: str) -> None:
        """Queue a reply the token limit cut (``finish_reason: "length"``)."""
        self.push(Reply(text, finish_reason="length"))

    def garbage(self, times: int = 1, *, endpoint: Endpoint = "chat") -> None:
        """Queue 200 responses with a malformed JSON body."""
        self.push(Garbage(), endpoint=endpoint, times=times)

    def responder(self, fn: ChatResponder) -> None:
        """Answer chat calls with `fn(request_json)` whenever the queue is empty."""
        self._chat_default = fn

    def transcription(self, text_or_fn: str | Callable[[RecordedRequest], str | Awaitable[str]],
                      *, default: bool = False,
                      segments: Sequence[SegmentSpec] | None = None) -> None:
        """Queue a transcription result (or make it the default when `default`)."""
        if default:
            self._transcription_default = Transcribe(text_or_fn, segments)
        else:
            self.push(Transcribe(text_or_fn, segments), endpoint="transcription")

    async def start(self) -> FakeOpenAI:
        """Bind to 127.0.0.1 and start serving."""
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Stop serving; hung requests are released."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeOpenAI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rec = RecordedRequest(request.method, request.path,
                              {k.lower(): v for k, v in request.headers.items()})
        self.requests.append(rec)
        response = await self._answer(request, rec)
        rec.status = response.status
        response.headers.setdefault("x-request-id", f"req_{uuid.uuid4().hex}")
        return response

    def served_names(self) -> list[str]:
        """Model names requests may use: Ollama also takes ``name`` for ``name:latest``."""
        if self.personality.name != "ollama":
            return self.models
        return [*self.models, *(m.removesuffix(":latest") for m in self.models
                                if m.endswith(":latest"))]

    def _endpoint(self, path: str) -> Endpoint | None:
        if self.personality.azure:
            return "chat" if AZURE_CHAT.match(path) else None
        return PATHS.get(path)

    def _refused_access(self, request: web.Request) -> web.Response | None:
        """401 for a wrong key; Azure's 404 for a missing api-version or unknown deployment."""
        if not self.personality.azure:
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return _error(401, "Incorrect API key provided.", code="invalid_api_key")
            return None
        if request.headers.get("api-key") != self.api_key:
            return _error(401, "Access denied due to invalid subscription key or wrong API "
                               "endpoint.", code="401")
        if not request.query.get("api-version"):
            return _error(404, "Resource not found", code="404")
        match = AZURE_CHAT.match(request.path)
        if match and match["deployment"] not in self.models:
            return _error(404, "The API deployment for this resource does not exist.",
                          code="DeploymentNotFound")
        return None

    def _refused_body(self, endpoint: Endpoint, body: dict[str, Any]) -> web.Response | None:
        """What the real API answers to a request it refuses (see ``openai_checks``)."""
        if endpoint == "chat":
            if self.personality.azure:
                body = {"model": self.models[0], **body}
            refusal = check_chat(body, self.served_names())
            if refusal is None and self.personality.rejects_reasoning_in_messages and any(
                    "reasoning_content" in m for m in body["messages"]):
                refusal = Refusal(400, "The reasoning_content is an intermediate result for "
                                       "display only; remove it from the input messages.")
        else:
            refusal = None if body.get("model") in self.served_names() else unknown_model(
                body.get("model"))
        if refusal is None:
            return None
        return _error(refusal.status, refusal.message, code=refusal.code, param=refusal.param)

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        refused = self._refused_access(request)
        if refused is not None:
            return refused
        if request.method == "GET" and request.path == "/v1/models" \
                and not self.personality.azure:
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                    for m in self.models]
            return web.json_response({"object": "list", "data": data})
        endpoint = self._endpoint(request.path)
        if endpoint is None or request.method != "POST":
            return _error(404, f"Unknown endpoint {request.method} {request.path}.",
                          code="unknown_url")
        unreadable = await self._read_body(request, endpoint, rec)
        if unreadable is not None:
            return unreadable
        body = rec.json or rec.form
        refusal = _refusal(body, endpoint)
        if refusal is not None:
            return refusal
        refused = self._refused_body(endpoint, body)
        if refused is not None:
            return refused
        if self.streams_refused and _streaming(body):
            return _error(400, "Unrecognized request argument supplied: stream_options",
                          code="invalid_request_error")
        if endpoint != "speech" and self.latency:
            await asyncio.sleep(self.latency)
        try:
            step = await self._next_step(endpoint, rec)
            if step is None:
                return _error(500, f"FakeOpenAI: script ran out of {endpoint} responses.",
                              code="fake_script_exhausted")
            if isinstance(step, Reply | ToolCalls):
                return await self._chat_step(request, rec, step, streaming=_streaming(body))
            return await self._render(step, endpoint, rec)
        except Exception as exc:
            return _error(500, f"FakeOpenAI: scripted handler raised {exc!r}.", code="fake_error")

    async def _chat_step(self, request: web.Request, rec: RecordedRequest,
                         step: Reply | ToolCalls, *, streaming: bool) -> web.StreamResponse:
        """A scripted reply or tool call, streamed when asked; sent when a model writing at
        ``tokens_per_second`` would have finished it."""
        if not streaming:
            await write_whole(rec, step, tokens_per_second=self.tokens_per_second)
            return await self._render(step, "chat", rec)
        if isinstance(step, Reply):
            text, finish = _within_max_tokens(step, rec.json or {})
            step = replace(step, text=text, finish_reason=finish)
        return await stream_chat(request, rec, step, step_usage(step),
                                 tokens_per_second=self.tokens_per_second)

    @staticmethod
    async def _read_body(request: web.Request, endpoint: Endpoint, rec: RecordedRequest
                         ) -> web.Response | None:
        """Record the JSON body or the multipart form; a 400 when JSON does not parse."""
        if endpoint != "transcription":
            try:
                rec.json = await request.json()
            except ValueError:
                return _error(400, "Request body is not valid JSON.")
            return None
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                rec.file = UploadedFile(value.filename, value.file.read(), value.content_type)
            else:
                rec.form[key] = str(value)
        return None

    async def _next_step(self, endpoint: Endpoint, rec: RecordedRequest) -> Step | None:
        if self._queues[endpoint]:
            return self._queues[endpoint].popleft()
        if endpoint == "chat" and self._chat_default is not None:
            result = self._chat_default(rec.json or {})
            step = await result if inspect.isawaitable(result) else result
            return Reply(step) if isinstance(step, str) else step
        if endpoint == "transcription":
            return self._transcription_default
        return Speak() if endpoint == "speech" else None

    async def _render(self, step: Step, endpoint: Endpoint, rec: RecordedRequest) -> web.Response:
        if isinstance(step, Fail):
            headers: dict[str, str] = {}
            if step.retry_after is not None:
                headers["retry-after"] = str(math.ceil(step.retry_after))
                headers["retry-after-ms"] = str(int(step.retry_after * 1000))
            if step.should_retry is not None:
                headers["x-should-retry"] = str(step.should_retry).lower()
            return _error(step.status, step.message or f"Scripted failure {step.status}.",
                          headers=headers)
        if isinstance(step, Hang):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), step.seconds)
            return _error(504, "FakeOpenAI: scripted hang elapsed.", code="fake_hang")
        if isinstance(step, Filtered):
            return web.json_response(self._completion_body(
                {"role": "assistant", "content": None}, "content_filter", rec.json or {}, None))
        if isinstance(step, Garbage):
            return web.Response(body=b'{"id": "chatcmpl-garbage", "choices": [{"mess',
                                content_type="application/json")
        if isinstance(step, Speak):
            fmt = str((rec.json or {}).get("response_format") or "mp3")
            if fmt not in SPEECH_FORMATS:
                return _error(400, f"Unsupported response_format {fmt!r}.")
            audio, mime = await synth_audio(str((rec.json or {}).get("input", "")), fmt)
            return web.Response(body=audio, content_type=mime)
        if endpoint == "transcription":
            if not isinstance(step, Transcribe):
                return _error(500, f"FakeOpenAI: {type(step).__name__} is not a transcription.")
            return await self._transcription_response(step, rec)
        if not isinstance(step, Reply | ToolCalls):
            return _error(500, f"FakeOpenAI: {type(step).__name__} is not a chat step.")
        return web.json_response(self._chat_completion(step, rec.json or {}))

    def _chat_completion(self, step: Reply | ToolCalls, body: dict[str, Any]) -> dict[str, Any]:
        """The completion for a scripted step, in this server family's shape."""
        if isinstance(step, Reply):
            text, finish = _within_max_tokens(step, body)
            message, shaped = shape_message(self.personality, text, None)
            finish = finish if finish != "stop" else shaped
        else:
            message, finish = shape_message(self.personality, None, step.calls)
        return self._completion_body(message, finish, body,
                                     step_usage(step) if self.personality.usage else None)

    @staticmethod
    def _completion_body(message: dict[str, Any], finish: str, body: dict[str, Any],
                         usage: dict[str, int] | None) -> dict[str, Any]:
        completion: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:29]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "gpt-4o-mini"),
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish}],
        }
        if usage is not None:
            completion["usage"] = usage
        return completion

    @staticmethod
    async def _transcription_response(step: Transcribe, rec: RecordedRequest) -> web.Response:
        text = step.text(rec) if callable(step.text) else step.text
        if inspect.isawaitable(text):
            text = await text
        fmt = rec.form.get("response_format", "json")
        if fmt in ("text", "srt", "vtt"):
            return web.Response(text=text, content_type="text/plain")
        if fmt == "verbose_json":
            specs = step.segments if step.segments is not None else (
                [(text, 0.02, -0.25)] if text else [])
            return web.json_response({"task": "transcribe", "text": text, "duration": 1.0,
                                      "language": rec.form.get("language", "english"),
                                      "segments": _verbose_segments(specs)})
        return web.json_response({"text": text})


IMAGE_MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "gif": b"GIF8",
               "webp": b"RIFF"}
DATA_URL = re.compile(r"data:image/(png|jpeg|jpg|gif|webp);base64,(.+)", re.DOTALL)
CONTENT_PART_TYPES = frozenset({"text", "image_url", "input_audio", "file"})


def _streaming(body: dict[str, Any]) -> bool:
    return body.get("stream") in (True, "true", "True")


def _refusal(body: dict[str, Any], endpoint: Endpoint) -> web.Response | None:
    """The 400 the API would send for this body (bad image parts, a stream this fake does not
    serve, ``stream_options`` without ``stream``), or None."""
    problem = _image_problem(body)
    if problem is not None:
        return _error(400, problem, code="invalid_image_format")
    if _streaming(body) and endpoint != "chat":
        return _error(400, "FakeOpenAI streams only chat completions.", code="unsupported")
    if body.get("stream_options") is not None and not _streaming(body):
        return _error(400, "The 'stream_options' parameter is only allowed when 'stream' is "
                           "enabled.", code="invalid_value")
    return None


def _image_problem(body: dict[str, Any]) -> str | None:
    """Why the API would refuse the request's content parts, or None.

    As the Chat Completions API does: content may be a string or a list of typed parts; an
    ``image_url`` holds an http(s) URL or a base64 data URL of a PNG, JPEG, GIF or WebP image,
    with ``detail`` auto, low or high.
    """
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in CONTENT_PART_TYPES:
                return f"Invalid value: '{kind}'. Supported values are: 'text', 'image_url', " \
                       "'input_audio', and 'file'."
            if kind == "image_url":
                problem = _image_url_problem(part.get("image_url"))
                if problem:
                    return problem
    return None


def _image_url_problem(image: Any) -> str | None:
    if not isinstance(image, dict) or not isinstance(image.get("url"), str):
        return "Missing required parameter: 'messages[].content[].image_url.url'."
    if image.get("detail", "auto") not in ("auto", "low", "high"):
        return f"Invalid value: '{image.get('detail')}'. Supported values are: 'auto', 'low', " \
               "and 'high'."
    url = image["url"]
    if url.startswith(("http://", "https://")):
        return None
    match = DATA_URL.fullmatch(url)
    unsupported = ("You uploaded an unsupported image. Please make sure your image has of one "
                   "the following formats: ['png', 'jpeg', 'gif', 'webp'].")
    if match is None:
        return "Invalid image URL: the URL must be a valid http(s) URL or a base64 data URL."
    try:
        data = base64.b64decode(match.group(2), validate=True)
    except ValueError:
        return unsupported
    kind = "jpeg" if match.group(1) == "jpg" else match.group(1)
    return None if data.startswith(IMAGE_MAGIC[kind]) else unsupported


def _verbose_segments(specs: Sequence[SegmentSpec]) -> list[dict[str, Any]]:
    """Segments shaped as the API's ``verbose_json`` sends them, one second each."""
    return [{"id": index, "seek": 0, "start": float(index), "end": float(index + 1),
             "text": f" {text}", "tokens": [50364], "temperature": 0.0,
             "avg_logprob": logprob, "compression_ratio": 1.1, "no_speech_prob": no_speech}
            for index, (text, no_speech, logprob) in enumerate(specs)]


def _within_max_tokens(step: Reply, body: dict[str, Any]) -> tuple[str, str]:
    """The reply's text and finish reason, cut as the server cuts at the request's token limit:
    the text shortened in proportion, mid-word, with ``finish_reason: "length"``."""
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and step.completion_tokens > limit:
        keep = max(1, len(step.text) * limit // step.completion_tokens)
        return step.text[:keep], "length"
    return step.text, step.finish_reason


async def _serve(port: int, reply: str, latency: float) -> None:
    """Run until interrupted, answering every chat call with `reply`."""
    async with FakeOpenAI(latency=latency, port=port) as fake:
        fake.responder(lambda _body: reply)
        fake.transcription(reply, default=True)
        print(f"FakeOpenAI on {fake.base_url} (api key {fake.api_key!r})", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run the fake OpenAI API server.")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--reply", default="hola")
    parser.add_argument("--latency", type=float, default=0.0)
    cli = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(cli.port, cli.reply, cli.latency))
