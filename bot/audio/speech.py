"""Speech: transcribe recordings with an OpenAI-compatible API, speak replies, and the CLI.

Conversions run in worker threads (``bot.audio.conversion`` blocks); uploads run concurrently,
bounded by TRANSCRIBE_CONCURRENCY. Every temporary file lives in a ``TemporaryDirectory`` removed on
the way out, whatever happens.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai
from openai import AsyncOpenAI

from bot.audio.conversion import (
    UPLOAD_LIMIT_BYTES,
    Chunk,
    audio_duration,
    check_duration,
    check_media,
    convert_for_transcription,
    is_ogg_opus,
    sniff_format,
    split_for_upload,
    to_ogg_opus,
    upload_format,
)
from bot.audio.silence import Segment, SpeechMap, clean_transcript, map_speech
from bot.core.assistant import readable
from bot.core.endpoint import failure_cause, failure_kind
from bot.errors import KratosError, UserFacingError
from bot.logs import quiet_for_terminal
from bot.settings import Settings

logger = logging.getLogger(__name__)

#: Seconds of upload and transcription allowed per second of audio, on top of OPENAI_TIMEOUT:
#: a 13-minute chunk needs minutes, far more than one chat request.
TIMEOUT_PER_AUDIO_SECOND = 0.25


class TranscriptionUnavailable(UserFacingError):
    """The speech-to-text API failed or timed out.

    ``cause`` says why in Spanish for the owner at the command line (``kratos transcribe``):
    a refused connection, an unknown host, a timeout, the server's HTTP status; empty when
    not known. Customers get the short apology without it.
    """

    def __init__(self, cause: str = "") -> None:
        super().__init__(
            es="No pude transcribir el audio ahora, intenta de nuevo en un momento.",
            en="I couldn't transcribe the audio right now, please try again in a moment.",
        )
        self.cause = cause


class TranscriptionRefused(TranscriptionUnavailable):
    """The speech-to-text endpoint refused the API key (401/403): only the owner can fix it.

    The customer gets a short apology; "try again in a moment" would send them back to a
    failure that retrying cannot cure. The log says what is wrong.
    """

    def __init__(self, cause: str = "") -> None:
        UserFacingError.__init__(
            self,
            es="Lo siento, ahora no puedo transcribir audios. Escríbeme tu pregunta, por favor.",
            en="Sorry, I can't transcribe audio right now. Please type your question.",
        )
        self.cause = cause


#: What the log says when the endpoint refuses the key: the owner's problem, said plainly.
KEY_REFUSED = ("%s: the API key was refused (HTTP %s) by the speech endpoint; check "
               "OPENAI_API_KEY (and OPENAI_BASE_URL)")


class SpeechUnavailable(UserFacingError):
    """The text-to-speech API failed, timed out or sent audio that cannot be used."""

    def __init__(self) -> None:
        super().__init__(
            es="No pude preparar la respuesta en audio; te la dejo por escrito.",
            en="I couldn't make the spoken reply; here it is in writing.",
        )


@dataclass(frozen=True)
class Transcript:
    """The text of a recording, its length in seconds and how many uploads it took."""

    text: str
    duration_s: float
    chunks: int
    #: Chunks not uploaded because they hold no speech (all of them for a silent note).
    silent_chunks: int = 0


def _request_options(settings: Settings, prompt: str | None) -> dict[str, Any]:
    """Model, language, prompt and format for every chunk of one recording."""
    # Whisper models give per-segment no-speech figures in verbose_json; json is the only
    # format gpt-4o-*-transcribe accept. The SDK returns an object with .text either way.
    options: dict[str, Any] = {"model": settings.transcribe_model,
                               "response_format": response_format(settings.transcribe_model)}
    if settings.transcribe_language:
        options["language"] = settings.transcribe_language
    if prompt:
        options["prompt"] = prompt
    return options


def response_format(model: str) -> str:
    """``verbose_json`` (segments with ``no_speech_prob``) for Whisper models, else ``json``."""
    return "verbose_json" if "whisper" in model.lower() else "json"


def _segments(result: Any) -> list[Segment] | None:
    """The segments of a ``verbose_json`` answer, or None when the server sent none."""
    raw = getattr(result, "segments", None)
    if not raw:
        return None
    segments = []
    for item in raw:
        values = item if isinstance(item, dict) else getattr(item, "__dict__", {})
        no_speech, logprob = values.get("no_speech_prob"), values.get("avg_logprob")
        segments.append(Segment(
            text=str(values.get("text") or ""),
            no_speech_prob=float(no_speech) if isinstance(no_speech, int | float) else None,
            avg_logprob=float(logprob) if isinstance(logprob, int | float) else None,
        ))
    return segments


async def _transcribe_chunk(client: AsyncOpenAI, chunk: Chunk, mime_type: str,
                            options: dict[str, Any], timeout: float,
                            limit: asyncio.Semaphore, speech: SpeechMap) -> str:
    if not speech.has_speech(chunk.start_s, chunk.end_s):
        # Nothing but silence or faint noise: Whisper would only invent a line for it.
        logger.info("chunk %d (%.1f s) holds no speech: not uploaded", chunk.index,
                    chunk.duration_s)
        return ""
    async with limit:
        # Read inside the semaphore so at most TRANSCRIBE_CONCURRENCY chunks sit in memory.
        data = await asyncio.to_thread(chunk.path.read_bytes)
        started = time.perf_counter()
        try:
            result = await client.audio.transcriptions.create(
                file=(chunk.path.name, data, mime_type), timeout=timeout, **options)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
            logger.error(KEY_REFUSED, "transcription failed", error.status_code)
            raise TranscriptionRefused(
                f"{shown_url(client.base_url)} rechazó la clave (HTTP {error.status_code}): "
                "revisa OPENAI_API_KEY") from error
        except openai.APIError as error:
            # The SDK reports a refused connection as a timeout: the log and the owner get
            # the true cause, read from the chain (as model requests do).
            url = shown_url(client.base_url)
            logger.warning("transcription of chunk %d failed: %s", chunk.index, failure_cause(
                error, url=url, model=str(options.get("model")), timeout=timeout))
            raise TranscriptionUnavailable(_cause_in_spanish(error, url, timeout)) from error
        logger.info("chunk %d (%.1f s, %d bytes) transcribed in %.2f s", chunk.index,
                    chunk.duration_s, len(data), time.perf_counter() - started)
        # The endpoint's JSON may carry characters no message or database can encode.
        return clean_transcript(readable(result.text), _segments(result),
                                speech.voiced_share(chunk.start_s, chunk.end_s))


def shown_url(url: Any) -> str:
    """An endpoint's URL fit to print: scheme, host, port and path, without the credentials
    or query a proxy's URL may carry."""
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}".rstrip("/")


#: Why a transcription request failed, for the owner (``failure_kind`` -> a Spanish clause).
CAUSES_ES = {
    "refused": "la conexión a {url} fue rechazada: nada escucha ahí (¿está en marcha el "
               "servidor?)",
    "unknown_host": "no encuentro el servidor de {url}: revisa OPENAI_BASE_URL",
    "tls": "falló la conexión segura (TLS) con {url}: revisa OPENAI_BASE_URL",
    "timeout": "{url} no respondió en {timeout:.0f} s",
    "connection": "no pude conectarme a {url}",
    "other": "{url} respondió algo que no entiendo",
}


def _cause_in_spanish(error: BaseException, url: str, timeout: float) -> str:
    kind = failure_kind(error)
    if kind == "status":
        status = getattr(error, "status_code", "?")
        return f"{url} respondió con el error HTTP {status}"
    return CAUSES_ES[kind].format(url=url, timeout=timeout)


def _map_speech(converted: Path, scratch: Path) -> SpeechMap:
    """Measure the converted recording; a compressed upload format is decoded to PCM first."""
    if converted.suffix == ".wav":
        return map_speech(converted)
    pcm_dir = scratch / "pcm"
    pcm_dir.mkdir()
    return map_speech(convert_for_transcription(converted, pcm_dir, "wav"))


async def transcribe(client: AsyncOpenAI, settings: Settings, path: Path, *,
                     prompt: str | None = None, workdir: Path | None = None,
                     upload_limit: int = UPLOAD_LIMIT_BYTES) -> Transcript:
    """Transcribe an audio or video file; ``prompt`` carries vocabulary (brands, products).

    Stretches without speech are measured out before uploading (``bot.audio.silence``): a silent
    recording comes back as an empty text without any request. ``upload_limit`` is the
    largest chunk uploaded, in bytes. Raises a ``bot.audio.conversion.MediaError`` for a file that
    cannot be used and ``TranscriptionUnavailable`` when the API fails. Temporary files go in a
    fresh directory inside ``workdir`` (the system temp directory by default), removed before
    returning.
    """
    started = time.perf_counter()
    fmt = settings.transcribe_format
    mime_type = upload_format(fmt).mime_type
    with tempfile.TemporaryDirectory(prefix="kratos-audio-", dir=workdir) as scratch:
        await asyncio.to_thread(check_media, path, max_minutes=settings.max_audio_minutes)
        # Whatever the header says (a 15 MB WebM claiming 10 s held 7 hours of silence), decode
        # no more than one second past the limit, and refuse what reaches it before splitting.
        cap = settings.max_audio_minutes * 60 + 1
        converted = await asyncio.to_thread(convert_for_transcription, path, Path(scratch), fmt,
                                            max_seconds=cap)
        check_duration(await asyncio.to_thread(audio_duration, converted),
                       settings.max_audio_minutes)
        chunks = await asyncio.to_thread(split_for_upload, converted, Path(scratch), fmt,
                                         upload_limit)
        duration = chunks[-1].end_s
        check_duration(duration, settings.max_audio_minutes)
        speech = await asyncio.to_thread(_map_speech, converted, Path(scratch))
        silent = sum(not speech.has_speech(c.start_s, c.end_s) for c in chunks)
        logger.info("%.1f s of sound in %.1f s of audio (loudest %.1f dBFS); %d of %d chunk(s) "
                    "silent", speech.voiced_s(), duration, speech.loudest_dbfs, silent,
                    len(chunks))
        converted_at = time.perf_counter()
        options = _request_options(settings, prompt)
        limit = asyncio.Semaphore(settings.transcribe_concurrency)
        try:
            # A TaskGroup cancels the other uploads as soon as one fails.
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(_transcribe_chunk(
                        client, chunk, mime_type, options,
                        settings.openai_timeout + chunk.duration_s * TIMEOUT_PER_AUDIO_SECOND,
                        limit, speech,
                    ))
                    for chunk in chunks
                ]
        except* TranscriptionUnavailable as failed:
            # One kind message for the user, whichever and however many chunks failed; a
            # refused key is said as such, since retrying cannot help.
            refused = [e for e in failed.exceptions if isinstance(e, TranscriptionRefused)]
            first = (refused or failed.exceptions)[0]
            raise type(first)(first.cause) from first.__cause__
    text = " ".join(part for part in (task.result() for task in tasks) if part)
    logger.info("transcribed %.1f s of audio in %d chunk(s): %.2f s converting, %.2f s in total",
                duration, len(chunks), converted_at - started, time.perf_counter() - started)
    return Transcript(text=text, duration_s=duration, chunks=len(chunks), silent_chunks=silent)


async def synthesize_voice(client: AsyncOpenAI, settings: Settings, text: str) -> bytes:
    """Speak ``text`` with TTS_MODEL and TTS_VOICE; OGG/Opus bytes ready for sendVoice."""
    started = time.perf_counter()
    try:
        response = await client.audio.speech.create(
            model=settings.tts_model, voice=settings.tts_voice, input=text,
            response_format="opus",
        )
    except (openai.AuthenticationError, openai.PermissionDeniedError) as error:
        logger.error(KEY_REFUSED, "speech synthesis failed", error.status_code)
        raise SpeechUnavailable() from error
    except openai.APIError as error:
        logger.warning("speech synthesis failed: %s", type(error).__name__)
        raise SpeechUnavailable() from error
    audio = response.content
    if not is_ogg_opus(audio):
        # Some self-hosted speech servers ignore response_format and send mp3 or wav.
        source = sniff_format(audio)
        if source is None:
            logger.warning("speech endpoint sent %d bytes of an unknown format", len(audio))
            raise SpeechUnavailable()
        try:
            audio = await asyncio.to_thread(to_ogg_opus, audio, source)
        except UserFacingError as error:
            raise SpeechUnavailable() from error
    logger.info("spoke %d characters in %.2f s", len(text), time.perf_counter() - started)
    return audio


def is_link(source: str | Path) -> bool:
    """Whether ``source`` (a command-line argument, a message) is an http(s) link."""
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


async def transcribe_link(client: AsyncOpenAI, settings: Settings, url: str, *,
                          prompt: str | None = None) -> Transcript:
    """Fetch the recording at ``url`` (``bot.audio.media_fetch``: SSRF checks, limits) and
    transcribe it; the download lives in a temporary directory removed before returning."""
    from bot.audio.media_fetch import FetchLimits, fetch_media

    with tempfile.TemporaryDirectory(prefix="kratos-link-") as scratch:
        fetched = await fetch_media(url, Path(scratch), FetchLimits.of(settings))
        return await transcribe(client, settings, fetched.path, prompt=prompt,
                                workdir=Path(scratch))


def transcribe_command(settings: Settings, source: str | Path) -> int:
    """``kratos transcribe FILE|URL``: print the transcript; 1 for a bad file or link, 2
    without a key."""
    quiet_for_terminal(settings.log_level)
    path = Path(source)
    # The file first: a mistyped name is the likelier mistake, and it is said the same either
    # way; the key matters only once there is something to transcribe.
    if not is_link(source) and not path.is_file():
        print(f"kratos: {_not_a_file(path)}", file=sys.stderr)
        return 1
    if not settings.openai_api_key:
        print("kratos: falta OPENAI_API_KEY: para transcribir necesito un servicio compatible "
              "con OpenAI (mira .env.example).", file=sys.stderr)
        return 2
    # Imported here: the catalog and the application context are not needed by the rest of
    # this module, which the Telegram adapter imports.
    from bot.catalog.reader import CatalogReader
    from bot.core.context import build_llm_client
    from bot.core.prompt import profile_catalog, speech_prompt

    async def catalog_prompt() -> str | None:
        """The catalog's names as vocabulary, when there is a catalog to read them from."""
        try:
            catalog = await CatalogReader.open(settings.catalog_db, timeout=settings.sql_timeout)
        except KratosError as error:
            logger.info("transcribing without catalog vocabulary: %s", error)
            return None
        try:
            profile = await profile_catalog(catalog, settings.notes_path)
        finally:
            await catalog.close()
        return speech_prompt(profile, settings.transcribe_language)

    async def run() -> Transcript:
        client = build_llm_client(settings)
        assert client is not None  # the key is set
        try:
            if is_link(source):
                return await transcribe_link(client, settings, str(source),
                                             prompt=await catalog_prompt())
            return await transcribe(client, settings, path, prompt=await catalog_prompt())
        finally:
            await client.close()

    try:
        transcript = asyncio.run(run())
    except TranscriptionUnavailable as error:
        print(f"kratos: {_failed_sentence(error)}", file=sys.stderr)
        return 1
    except UserFacingError as error:
        print(f"kratos: {error.user_message('es')}", file=sys.stderr)
        return 1
    if not transcript.text.strip():
        # Silence, faint noise, a tone: nothing to print, and an empty line would pass for
        # a transcript. Said as the chat says it.
        print("kratos: No escuché a nadie hablar en el audio: solo hay silencio, ruido o "
              "sonidos sin palabras.", file=sys.stderr)
        return 1
    print(transcript.text)
    return 0


def _not_a_file(path: Path) -> str:
    """Why a path given to ``kratos transcribe`` cannot be read, in one sentence."""
    if path.is_dir():
        return f"{path} es una carpeta: indica el archivo de audio o video que tiene dentro."
    if path.exists():
        return f"{path} no es un archivo que pueda leer."
    return f"No encuentro el archivo {path}."


def _failed_sentence(error: TranscriptionUnavailable) -> str:
    """The owner's sentence for a failed transcription: the cause when it is known."""
    if not error.cause:
        return error.user_message("es")
    return f"No pude transcribir el audio: {error.cause}."
