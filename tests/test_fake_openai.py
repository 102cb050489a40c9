"""The fake OpenAI server, exercised through the real `openai.AsyncOpenAI` client."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import openai
import pytest

from tests.fakes.openai_personalities import REASONING
from tests.fakes.openai_server import DEFAULT_MODELS, Fail, FakeOpenAI, RecordedRequest, Reply

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
USER = [{"role": "user", "content": "¿Tienen café?"}]


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    """A running fake server."""
    async with FakeOpenAI() as server:
        yield server


def client(fake: FakeOpenAI, **kwargs: object) -> openai.AsyncOpenAI:
    """A real OpenAI client pointed at the fake."""
    options: dict[str, object] = {"max_retries": 0, **kwargs}
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key=fake.api_key, **options)


async def chat(fake: FakeOpenAI, **kwargs: object) -> openai.types.chat.ChatCompletion:
    """One chat completion call with default arguments."""
    return await client(fake, **kwargs).chat.completions.create(model="gpt-4o-mini", messages=USER)


def ffmpeg_decodes(path: Path) -> bool:
    """Whether ffmpeg decodes the whole file without error."""
    cmd = [FFMPEG, "-v", "error", "-xerror", "-i", str(path), "-f", "null", "-"]
    result = subprocess.run(cmd, capture_output=True, check=False)
    return result.returncode == 0 and not result.stderr.strip()


async def test_text_reply_parses_with_usage(fake: FakeOpenAI) -> None:
    fake.reply("Sí, tenemos café.", prompt_tokens=12, completion_tokens=5)
    result = await chat(fake)
    assert isinstance(result, openai.types.chat.ChatCompletion)
    assert result.object == "chat.completion"
    assert result.id.startswith("chatcmpl-")
    assert result.model == "gpt-4o-mini"
    assert result.choices[0].message.role == "assistant"
    assert result.choices[0].message.content == "Sí, tenemos café."
    assert result.choices[0].message.tool_calls is None
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (12, 5)
    assert result.usage.total_tokens == 17
    assert fake.remaining() == 0


async def test_tool_call_parses_and_request_is_recorded(fake: FakeOpenAI) -> None:
    fake.tool_call("search_products", {"query": "café", "limit": 3}, call_id="call_abc")
    tools = [{"type": "function", "function": {
        "name": "search_products", "parameters": {"type": "object", "properties": {}}}}]
    result = await client(fake).chat.completions.create(
        model="gpt-4o-mini", messages=USER, tools=tools)
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.id == "call_abc" and call.type == "function"
    assert call.function.name == "search_products"
    assert json.loads(call.function.arguments) == {"query": "café", "limit": 3}
    [body] = fake.chat_requests
    assert body["messages"] == USER and body["tools"] == tools
    [rec] = fake.requests
    assert (rec.method, rec.path, rec.status) == ("POST", "/v1/chat/completions", 200)
    assert rec.headers["authorization"] == "Bearer test-key"


async def test_several_tool_calls_in_one_message(fake: FakeOpenAI) -> None:
    fake.tool_calls([("get_stock", {"sku": "A1"}), ("get_price", '{"sku": "A1"}')])
    calls = (await chat(fake)).choices[0].message.tool_calls
    assert calls is not None
    assert [c.function.name for c in calls] == ["get_stock", "get_price"]
    assert [json.loads(c.function.arguments) for c in calls] == [{"sku": "A1"}] * 2
    assert len({c.id for c in calls}) == 2


async def test_fail_500_raises_internal_server_error(fake: FakeOpenAI) -> None:
    fake.fail(500, message="boom")
    with pytest.raises(openai.InternalServerError) as info:
        await chat(fake)
    assert info.value.status_code == 500
    assert "boom" in str(info.value)
    assert isinstance(info.value.body, dict) and info.value.body["type"] == "server_error"
    assert info.value.request_id is not None and info.value.request_id.startswith("req_")


async def test_429_with_retry_after_is_retried_then_succeeds(fake: FakeOpenAI) -> None:
    fake.fail(429, retry_after=0.3)
    fake.reply("ok")
    start = time.perf_counter()
    result = await chat(fake, max_retries=1)
    assert result.choices[0].message.content == "ok"
    assert time.perf_counter() - start >= 0.3
    assert [r.status for r in fake.requests] == [429, 200]
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1"]


async def test_429_without_retries_raises_rate_limit_error(fake: FakeOpenAI) -> None:
    fake.fail(429, retry_after=1)
    with pytest.raises(openai.RateLimitError):
        await chat(fake)


async def test_hang_exceeds_client_timeout_without_blocking_server(fake: FakeOpenAI) -> None:
    fake.hang(2)
    fake.reply("still serving")
    start = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        await chat(fake, timeout=0.5)
    other = await chat(fake)
    assert other.choices[0].message.content == "still serving"
    assert time.perf_counter() - start < 1.5


async def test_garbage_body_raises_json_decode_error(fake: FakeOpenAI) -> None:
    fake.garbage()
    with pytest.raises(json.JSONDecodeError):
        await chat(fake)
    assert fake.requests[0].status == 200


async def test_wrong_key_is_authentication_error(fake: FakeOpenAI) -> None:
    fake.reply("never sent")
    bad = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        await bad.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert info.value.code == "invalid_api_key"
    assert fake.remaining() == 1
    assert fake.requests[0].status == 401


async def test_empty_script_answers_500_and_records(fake: FakeOpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        await chat(fake)
    assert info.value.status_code == 500
    assert "script ran out" in str(info.value)
    assert [r.status for r in fake.requests] == [500]
    assert fake.chat_requests[0]["messages"] == USER


async def test_a_reply_streams_as_chunks_with_usage_last(fake: FakeOpenAI) -> None:
    fake.reply("Sí, tenemos café de Chanchamayo.", prompt_tokens=1300, completion_tokens=9,
               cached_tokens=1024)
    stream = await client(fake).chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True,
        stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and
              c.choices[0].delta.content]
    assert len(pieces) > 3 and "".join(pieces) == "Sí, tenemos café de Chanchamayo."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 1300
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 1024
    assert fake.requests[0].first_token_at is not None


async def test_tool_calls_stream_as_deltas(fake: FakeOpenAI) -> None:
    fake.tool_calls([("run_sql", {"query": "SELECT name FROM products LIMIT 3"}),
                     ("run_sql", {"query": "SELECT 1"})])
    stream = await client(fake).chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True)
    calls: dict[int, dict[str, str]] = {}
    finish = None
    async for chunk in stream:
        assert chunk.usage is None, "no usage chunk unless include_usage is asked for"
        finish = chunk.choices[0].finish_reason or finish
        for piece in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += piece.id or ""
            call["name"] += (piece.function.name or "") if piece.function else ""
            call["arguments"] += (piece.function.arguments or "") if piece.function else ""
    assert finish == "tool_calls"
    assert [json.loads(c["arguments"]) for c in calls.values()] == [
        {"query": "SELECT name FROM products LIMIT 3"}, {"query": "SELECT 1"}]
    assert all(c["id"].startswith("call_") and c["name"] == "run_sql" for c in calls.values())


async def test_a_stream_keeps_its_pace() -> None:
    async with FakeOpenAI(latency=0.2, tokens_per_second=50) as paced:
        paced.reply(" ".join(["palabra"] * 11))
        started = time.perf_counter()
        stream = await client(paced).chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True)
        arrivals = [time.perf_counter() async for chunk in stream
                    if chunk.choices and chunk.choices[0].delta.content]
    assert 0.2 <= arrivals[0] - started < 0.5
    assert 0.18 <= arrivals[-1] - arrivals[0] < 0.6  # ten more pieces at 50 a second


async def test_stream_options_without_stream_is_refused(fake: FakeOpenAI) -> None:
    fake.reply("unused")
    with pytest.raises(openai.BadRequestError, match="stream_options"):
        await client(fake).chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream_options={"include_usage": True})
    assert fake.remaining() == 1


async def test_responder_answers_when_queue_is_empty(fake: FakeOpenAI) -> None:
    async def answer(body: dict[str, Any]) -> Reply:
        return Reply(f"eco {len(body['messages'])}", completion_tokens=7)

    fake.responder(answer)
    fake.reply("queued first")
    assert (await chat(fake)).choices[0].message.content == "queued first"
    dynamic = await chat(fake)
    assert dynamic.choices[0].message.content == "eco 1"
    assert dynamic.usage is not None and dynamic.usage.completion_tokens == 7
    fake.responder(lambda _body: "plain string")
    assert (await chat(fake)).choices[0].message.content == "plain string"
    fake.responder(lambda _body: Fail(503))
    with pytest.raises(openai.InternalServerError):
        await chat(fake)


async def test_transcription_records_upload_and_returns_text(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    wav = tmp_path / "voice.wav"
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "sine=frequency=300:duration=1",
                    "-ac", "1", "-ar", "16000", str(wav)], check=True)

    def by_size(rec: RecordedRequest) -> str:
        assert rec.file is not None
        return f"{len(rec.file.data)} bytes"

    fake.transcription(by_size)
    fake.transcription("texto plano")
    api = client(fake)
    result = await api.audio.transcriptions.create(
        model="whisper-1", file=wav, language="es", prompt="café, té")
    assert result.text == f"{wav.stat().st_size} bytes"
    [rec, *_] = fake.transcription_requests
    assert rec.file is not None and rec.file.name == "voice.wav"
    assert rec.file.data == wav.read_bytes()
    assert rec.form == {"model": "whisper-1", "language": "es", "prompt": "café, té"}
    plain = await api.audio.transcriptions.create(
        model="whisper-1", file=wav, response_format="text")
    assert plain.strip() == "texto plano"


async def test_transcription_verbose_json_and_fail(fake: FakeOpenAI, tmp_path: Path) -> None:
    audio = tmp_path / "a.ogg"
    audio.write_bytes(b"OggS not really")
    fake.fail(400, endpoint="transcription", message="bad audio")
    fake.transcription("hola", default=True)
    api = client(fake)
    with pytest.raises(openai.BadRequestError, match="bad audio"):
        await api.audio.transcriptions.create(model="whisper-1", file=audio)
    verbose = await api.audio.transcriptions.create(
        model="whisper-1", file=audio, response_format="verbose_json", language="es")
    assert (verbose.text, verbose.language) == ("hola", "es")
    # Clear speech: one segment the model is sure of, as the real API reports it.
    [segment] = verbose.segments or []
    assert (segment.text.strip(), segment.no_speech_prob < 0.6) == ("hola", True)
    fake.transcription("ruido", segments=[("Gracias.", 0.93, -1.3)])
    noisy = await api.audio.transcriptions.create(
        model="whisper-1", file=audio, response_format="verbose_json")
    assert [(s.text.strip(), s.no_speech_prob, s.avg_logprob) for s in noisy.segments or []] == [
        ("Gracias.", 0.93, -1.3)]


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("mp3", "audio/mpeg"), ("opus", "audio/ogg"), ("wav", "audio/wav"), ("flac", "audio/flac")],
)
async def test_speech_returns_decodable_audio(
    fake: FakeOpenAI, tmp_path: Path, fmt: str, mime: str
) -> None:
    response = await client(fake).audio.speech.create(
        model="tts-1", voice="alloy", input="Hola, bienvenido a la tienda.",
        response_format=fmt)
    assert response.response.headers["content-type"].startswith(mime)
    out = tmp_path / f"speech.{fmt}"
    out.write_bytes(response.content)
    assert len(response.content) > 100
    assert ffmpeg_decodes(out)
    assert fake.requests[0].json == {"model": "tts-1", "voice": "alloy", "response_format": fmt,
                                     "input": "Hola, bienvenido a la tienda."}


async def test_speech_length_grows_with_input(fake: FakeOpenAI) -> None:
    api = client(fake)
    short = await api.audio.speech.create(model="tts-1", voice="alloy", input="hola",
                                          response_format="pcm")
    long = await api.audio.speech.create(model="tts-1", voice="alloy", input="hola " * 20,
                                         response_format="pcm")
    assert len(long.content) > 4 * len(short.content)


async def test_models_lists_configured_names(fake: FakeOpenAI) -> None:
    page = await client(fake).models.list()
    assert [m.id for m in page.data] == list(DEFAULT_MODELS)


async def test_latency_overlaps_concurrent_requests() -> None:
    async with FakeOpenAI(latency=0.5) as fake:
        fake.responder(lambda _body: "ok")
        api = client(fake)
        start = time.perf_counter()
        results = await asyncio.gather(*(
            api.chat.completions.create(model="gpt-4o-mini", messages=USER) for _ in range(20)))
        elapsed = time.perf_counter() - start
    assert all(r.choices[0].message.content == "ok" for r in results)
    assert 0.5 <= elapsed < 2.0
    assert len(fake.chat_requests) == 20


# What the real API refuses, the fake refuses: each with OpenAI's status and code.
SQL_TOOL = [{"type": "function", "function": {
    "name": "run_sql", "parameters": {"type": "object", "properties": {}}}}]
CALL = {"id": "call_1", "type": "function",
        "function": {"name": "run_sql", "arguments": '{"query": "SELECT 1"}'}}


@pytest.mark.parametrize(("body", "status", "fragment"), [
    ({"model": "gpt-9-imaginary", "messages": USER}, 404, "does not exist"),
    ({"model": "gpt-4o-mini", "messages": []}, 400, "empty array"),
    ({"model": "gpt-4o-mini", "messages": USER, "colour": "blue"}, 400, "Unrecognized"),
    ({"model": "gpt-4o-mini", "messages": [*USER, {"role": "tool", "tool_call_id": "call_9",
                                                   "content": "1"}]},
     400, "must be a response to a preceeding message with 'tool_calls'"),
    ({"model": "gpt-4o-mini", "tools": SQL_TOOL,
      "messages": [*USER, {"role": "assistant", "content": None, "tool_calls": [CALL]}]},
     400, "did not have response messages: call_1"),
    ({"model": "gpt-4o-mini", "tools": SQL_TOOL,
      "messages": [*USER, {"role": "assistant", "content": None, "tool_calls": [CALL]},
                   {"role": "user", "content": "¿y?"}]},
     400, "did not have response messages: call_1"),
    ({"model": "gpt-4o-mini", "tools": SQL_TOOL, "messages": [
        *USER, {"role": "assistant", "content": None, "tool_calls": [
            {**CALL, "function": {"name": "run_sql", "arguments": {"query": "SELECT 1"}}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "1"}]},
     400, "expected a string"),
    ({"model": "gpt-4o-mini", "messages": USER, "tools": [
        {"type": "function", "function": {"name": "run sql!"}}]}, 400, "does not match"),
    ({"model": "gpt-4o-mini", "messages": USER, "tools": [
        {"type": "function", "function": {"name": "run_sql", "parameters": {"type": "string"}}}]},
     400, "Invalid schema"),
    ({"model": "gpt-4o-mini", "messages": USER, "tool_choice": "auto"}, 400,
     "only allowed when 'tools' are specified"),
    ({"model": "gpt-4o-mini", "messages": USER, "max_tokens": 0}, 400, "below minimum"),
])
async def test_requests_the_real_api_refuses_are_refused(
    fake: FakeOpenAI, body: dict[str, Any], status: int, fragment: str
) -> None:
    fake.reply("never sent")
    with pytest.raises(openai.APIStatusError) as info:
        await client(fake).post("/chat/completions", cast_to=object, body=body)
    assert info.value.status_code == status
    assert fragment in str(info.value)
    assert fake.remaining() == 1


async def test_a_complete_tool_exchange_is_accepted(fake: FakeOpenAI) -> None:
    fake.reply("Uno.")
    body = {"model": "gpt-4o-mini", "tools": SQL_TOOL, "tool_choice": "none", "messages": [
        *USER, {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "1"}]}
    result = await client(fake).post("/chat/completions", cast_to=object, body=body)
    assert result["choices"][0]["message"]["content"] == "Uno."


async def test_unknown_speech_model_is_refused(fake: FakeOpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        await client(fake).audio.speech.create(model="tts-9", voice="alloy", input="hola")


# Personalities: the same scripted step, shaped as each family of servers sends it.
async def personality_answer(name: str, step: str) -> dict[str, Any]:
    async with FakeOpenAI(personality=name) as fake:
        if step == "tool":
            fake.tool_call("run_sql", {"query": "SELECT 1"})
        else:
            fake.reply("Hola.")
        body = {"model": "gpt-4o-mini", "messages": USER, "tools": SQL_TOOL}
        response = await client(fake).post("/chat/completions", cast_to=object, body=body)
    return response


async def test_llamacpp_sends_object_arguments_and_no_usage() -> None:
    response = await personality_answer("llamacpp", "tool")
    call = response["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["arguments"] == {"query": "SELECT 1"}
    assert "usage" not in response


@pytest.mark.parametrize(("name", "marker"), [
    ("ollama", "```json"), ("vllm", "<tool_call>"), ("vllm-mistral", "[TOOL_CALLS]"),
    ("lmstudio", '"parameters"'),
])
async def test_text_tool_call_personalities(name: str, marker: str) -> None:
    message = (await personality_answer(name, "tool"))["choices"][0]["message"]
    assert "tool_calls" not in message
    assert marker in message["content"] and "SELECT 1" in message["content"]


@pytest.mark.parametrize(("name", "field"), [
    ("ollama", "content"), ("groq", "content"), ("vllm", "reasoning_content"),
    ("deepseek", "reasoning_content"), ("openrouter", "reasoning"),
])
async def test_reasoning_personalities(name: str, field: str) -> None:
    message = (await personality_answer(name, "reply"))["choices"][0]["message"]
    assert REASONING in message[field]
    assert message["content"].endswith("Hola.")


async def test_deepseek_refuses_reasoning_sent_back() -> None:
    async with FakeOpenAI(personality="deepseek") as fake:
        messages = [*USER, {"role": "assistant", "content": "Hola.",
                            "reasoning_content": REASONING}, {"role": "user", "content": "¿y?"}]
        with pytest.raises(openai.BadRequestError, match="reasoning_content"):
            await client(fake).post("/chat/completions", cast_to=object,
                                    body={"model": "gpt-4o-mini", "messages": messages})


async def test_max_tokens_cuts_the_reply_with_finish_reason_length(fake: FakeOpenAI) -> None:
    fake.reply("1. Televisor Sony Bravia 55 pulgadas", completion_tokens=40)
    body = {"model": "gpt-4o-mini", "messages": USER, "max_tokens": 20}
    choice = (await client(fake).post("/chat/completions", cast_to=object,
                                      body=body))["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == "1. Televisor Sony "


async def test_azure_deployment_paths_api_version_and_key() -> None:
    async with FakeOpenAI(personality="azure", models=["kratos-gpt"]) as fake:
        fake.reply("Hola desde Azure.")
        azure = openai.AsyncAzureOpenAI(azure_endpoint=fake.azure_endpoint, api_key=fake.api_key,
                                        api_version="2024-10-21", max_retries=0)
        result = await azure.chat.completions.create(model="kratos-gpt", messages=USER)
        assert result.choices[0].message.content == "Hola desde Azure."
        assert fake.requests[0].path == "/openai/deployments/kratos-gpt/chat/completions"
        assert fake.requests[0].headers["api-key"] == fake.api_key
        with pytest.raises(openai.NotFoundError, match="deployment"):
            await azure.chat.completions.create(model="gpt-4o", messages=USER)
        plain = openai.AsyncOpenAI(base_url=f"{fake.azure_endpoint}/openai/deployments/"
                                   "kratos-gpt", api_key=fake.api_key, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            await plain.chat.completions.create(model="kratos-gpt", messages=USER)
