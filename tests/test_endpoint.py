"""The model endpoint's start-up check and the true cause of each failure, over real HTTP: the
real AsyncOpenAI client (with its aiohttp transport) against the fake OpenAI server, a port
where nothing listens, and a host that does not exist."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.core.assistant import answer
from bot.core.context import PLATFORM_HEADERS, AppContext, build_context
from bot.core.endpoint import EndpointWatch
from bot.core.llm import TOOLS
from bot.core.reply import Conversation
from tests.fakes.openai_server import FakeOpenAI

ANA = Conversation.private(101)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def context(make_settings: Callable[..., Any], catalog_db: Any
                  ) -> AsyncIterator[Callable[..., Any]]:
    """Build an AppContext for the given model settings; closed after the test."""
    opened: list[AppContext] = []

    async def build(**overrides: str) -> AppContext:
        app = await build_context(make_settings(**{
            "OPENAI_MAX_RETRIES": "0", "OPENAI_TIMEOUT": "1", "ANSWER_TIMEOUT": "5",
            **overrides}))
        opened.append(app)
        return app

    yield build
    for app in opened:
        await app.close()


async def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (a server was there a moment ago)."""
    server = await FakeOpenAI().start()
    port = server.port
    await server.stop()
    return port


async def test_a_working_endpoint_is_checked_from_its_models_list(fake, context, caplog):
    app = await context(OPENAI_API_KEY=fake.api_key, OPENAI_BASE_URL=fake.base_url)
    with caplog.at_level(logging.INFO, logger="bot.core.endpoint"):
        assert await app.check_model_endpoint() is None
    assert f"model endpoint ready: gpt-4.1-mini at {fake.base_url}" in caplog.text
    assert fake.chat_requests == [] and app.chat_model is app.llm


@pytest.mark.parametrize(("setup", "sentence"), [
    ("wrong key", "API key refused by {url} (401): check OPENAI_API_KEY"),
    ("wrong model", "model gpt-9-imaginary not found at {url}: check OPENAI_MODEL (it serves: "
                    "gpt-4.1-mini, gpt-4o-mini"),
    ("wrong url", "no OpenAI-compatible API at {url} (404): check OPENAI_BASE_URL"),
])
async def test_each_misconfiguration_is_named_in_one_sentence(fake, context, caplog, setup,
                                                              sentence):
    settings = {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.base_url}
    if setup == "wrong key":
        settings["OPENAI_API_KEY"] = "sk-wrong"
    elif setup == "wrong model":
        settings["OPENAI_MODEL"] = "gpt-9-imaginary"
    else:
        settings["OPENAI_BASE_URL"] = fake.base_url.removesuffix("/v1")
    app = await context(**settings)
    with caplog.at_level(logging.INFO):
        problem = await app.check_model_endpoint()
        fake.reply("never asked")
        reply = await answer(app, ANA, "¿cuál es el producto más caro?")
        again = await answer(app, ANA, "la laptop más barata")
    expected = sentence.format(url=settings["OPENAI_BASE_URL"])
    assert problem is not None and problem.startswith(expected), problem
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and expected in errors[0].getMessage()
    assert "sk-wrong" not in caplog.text
    assert reply.engine == again.engine == "basic" and "Modo básico" in reply.text
    assert fake.remaining() == 1  # no question went to the model


async def test_requests_say_nothing_of_the_machine_they_come_from(fake, context):
    """The SDK's platform headers (OS, CPU, Python, SDK version) are left out; what the API
    needs (the key, the JSON body's type, the retry count) is there."""
    app = await context(OPENAI_API_KEY=fake.api_key, OPENAI_BASE_URL=fake.base_url)
    fake.reply("Hola, ¿qué buscas?")
    await answer(app, ANA, "hola")
    [request] = [r for r in fake.requests if r.json is not None]
    names = {name.lower() for name in request.headers}
    assert names.isdisjoint(name.lower() for name in PLATFORM_HEADERS), names
    assert request.headers["authorization"] == f"Bearer {fake.api_key}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-stainless-retry-count"] == "0"


async def test_a_model_listed_under_another_name_is_tried_with_the_answers_tools(context):
    async with FakeOpenAI(personality="ollama", models=["gemma:latest", "llama3.1:8b"]) as fake:
        fake.fail(400, message="registry.ollama.ai/library/gemma:latest does not support tools")
        app = await context(OPENAI_API_KEY=fake.api_key, OPENAI_BASE_URL=fake.base_url,
                            OPENAI_MODEL="gemma")
        problem = await app.check_model_endpoint()
        [probe] = fake.chat_requests
    assert problem == (f"request refused by {fake.base_url} (400: registry.ollama.ai/library/"
                       "gemma:latest does not support tools)")
    assert probe["model"] == "gemma" and probe["tools"] == TOOLS


async def test_a_refused_connection_is_not_called_a_timeout(context, caplog):
    url = f"http://127.0.0.1:{await free_port()}/v1"
    app = await context(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=url)
    problem = await app.check_model_endpoint()
    assert problem == f"connection refused at {url}: nothing listens there (is the server " \
                      "running?)"
    assert "timed out" not in problem and "no answer" not in problem


async def test_an_unknown_host_is_named(context):
    app = await context(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL="http://no-such-host.invalid/v1")
    problem = await app.check_model_endpoint()
    assert problem == ("the host of http://no-such-host.invalid/v1 cannot be found: check "
                       "OPENAI_BASE_URL")


async def test_a_silent_endpoint_is_a_timeout(context):
    async with FakeOpenAI(personality="ollama", models=["llama3.1:latest"]) as fake:
        fake.hang(5)
        app = await context(OPENAI_API_KEY=fake.api_key, OPENAI_BASE_URL=fake.base_url,
                            OPENAI_MODEL="llama3.1", OPENAI_TIMEOUT="0.5")
        started = time.perf_counter()
        problem = await app.check_model_endpoint()
        elapsed = time.perf_counter() - started
    assert problem == f"no answer from {fake.base_url} within 0.5 s (OPENAI_TIMEOUT)"
    assert elapsed < 2


async def test_later_failures_are_logged_with_their_true_cause(fake, context, caplog):
    app = await context(OPENAI_API_KEY=fake.api_key, OPENAI_BASE_URL=fake.base_url)
    assert await app.check_model_endpoint() is None
    await fake.stop()
    # The check's kept-alive connection learns that the server closed it a few turns of the
    # loop later; the answer, which no longer waits for a thread before its request, must not
    # take that connection first (a server gone for good refuses new ones).
    await asyncio.sleep(0.05)
    with caplog.at_level(logging.WARNING, logger="bot.core.assistant"):
        reply = await answer(app, ANA, "¿cuál es el producto más caro?")
    assert reply.engine == "basic"
    assert f"connection refused at {fake.base_url}" in caplog.text
    assert "Timeout" not in caplog.text


async def test_the_model_answers_again_once_a_later_check_passes(context, caplog):
    port = await free_port()
    url = f"http://127.0.0.1:{port}/v1"
    app = await context(OPENAI_API_KEY=FakeOpenAI.api_key, OPENAI_BASE_URL=url)
    assert app.llm is not None
    app.endpoint = EndpointWatch(app.llm, "gpt-4.1-mini", tools=TOOLS, timeout=1, every=0.05)
    with caplog.at_level(logging.INFO, logger="bot.core.endpoint"):
        assert (await app.endpoint.start()).startswith(f"connection refused at {url}")
        assert app.chat_model is None
        fake = await FakeOpenAI(port=port).start()
        fake.responder(lambda _body: "¡Hola!")
        for _ in range(100):
            if app.chat_model is not None:
                break
            await asyncio.sleep(0.02)
    assert app.chat_model is app.llm
    assert "the model answers again" in caplog.text
    assert (await answer(app, ANA, "hola")).text == "¡Hola!"
    await fake.stop()


async def test_an_endpoint_that_stops_answering_is_taken_down_then_back(fake, context, caplog):
    app = await context(OPENAI_API_KEY=fake.api_key, OPENAI_BASE_URL=fake.base_url,
                        ANSWER_TIMEOUT="0.5")
    assert await app.check_model_endpoint() is None
    assert app.endpoint is not None
    app.endpoint.every = 0.2
    fake.latency = 3.0  # the server still accepts requests, and never answers in time
    with caplog.at_level(logging.INFO, logger="bot.core.endpoint"):
        for _ in range(3):
            started = time.monotonic()
            reply = await answer(app, ANA, "¿cuál es el producto más caro?")
            assert reply.engine == "basic" and time.monotonic() - started >= 0.5
        asked = len(fake.chat_requests)
        # Three questions in a row without an answer: the next goes to basic mode at once.
        started = time.monotonic()
        reply = await answer(app, ANA, "¿cuál es el producto más barato?")
        assert reply.engine == "basic" and time.monotonic() - started < 0.4
        assert len(fake.chat_requests) == asked
        assert "ANSWER_TIMEOUT (0.5 s) (3 questions in a row)" in caplog.text
        # Back: the check asks for a chat (the models list alone answered all along).
        fake.latency = 0.0
        fake.responder(lambda _body: "¡Hola! ¿Qué producto buscas?")
        for _ in range(100):
            if app.chat_model is not None:
                break
            await asyncio.sleep(0.05)
        assert app.chat_model is app.llm
        assert "the model answers again" in caplog.text
    assert (await answer(app, ANA, "hola")).engine == "model"


async def test_one_failed_question_does_not_take_the_endpoint_down(fake, context):
    app = await context(OPENAI_API_KEY=fake.api_key, OPENAI_BASE_URL=fake.base_url)
    assert await app.check_model_endpoint() is None
    fake.responder(lambda _body: "¡Hola!")
    for _ in range(3):
        fake.fail(500, message="overloaded")
        assert (await answer(app, ANA, "hola")).engine == "basic"
        assert (await answer(app, ANA, "hola")).engine == "model"
    assert app.chat_model is app.llm
