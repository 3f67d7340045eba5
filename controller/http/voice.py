"""Call announcements synthesised offline with espeak-ng's Mandarin voice, served as WAV.

Only announcement texts built here are spoken ("请A023号到3号窗口办理", with "重呼，" before a
recall): the endpoint takes a ticket number and a window, never free text, so it cannot be used
to make the hall screen say anything else. What is *spoken* is written for the ear, not the
eye (decision 0006): the ``cmn-latn-pinyin`` voice (the ``cmn`` voice reads most characters as
English-spoken pinyin), ticket digits one by one (A023 is "A 零二三", not "零二十三"), each
prefix letter on its own (two letters together switch espeak-ng to English), and 重呼 written
as the pinyin ``chong2hu1`` so the polyphone is read chóng hū, not zhòng hū.

Synthesis runs as a subprocess (about 0.1 s), at most two at a time; results are cached because
a number is usually announced several times (every screen, every recall). The hall screen page
queues the audio and plays it in order, so announcements never cut each other off.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections import OrderedDict
from typing import Final

from aiohttp import web

from controller.http.api import error
from controller.http.hall_api import runtime_of

VOICE: Final = "cmn-latn-pinyin"
SPEED_WPM: Final = 150
CACHE_ENTRIES: Final = 128
NUMBER = re.compile(r"^[A-Z]{1,3}[0-9]{1,5}$")


class VoiceUnavailable(Exception):
    """espeak-ng is not installed or failed."""


DIGITS: Final = "零一二三四五六七八九"
RECALL_SPOKEN: Final = "chong2hu1"  # 重呼 as pinyin: the voice reads 重 alone as zhòng


def spoken_text(number: str, window: int, *, recall: bool) -> str:
    """The call written for the ear: the screen shows "请A023号到3号窗口办理" (see the module
    docstring for why the spoken form differs)."""
    letters = " ".join(ch for ch in number if ch.isalpha())
    digits = "".join(DIGITS[int(ch)] for ch in number if ch.isdigit())
    text = f"请{letters}{digits}号，到{window}号窗口办理"
    return f"{RECALL_SPOKEN}，{text}" if recall else text


class VoiceSynth:
    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or shutil.which("espeak-ng")
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._slots = asyncio.Semaphore(2)
        self.synthesised = 0

    @property
    def available(self) -> bool:
        return self.binary is not None

    async def wav(self, text: str) -> bytes:
        cached = self._cache.get(text)
        if cached is not None:
            self._cache.move_to_end(text)
            return cached
        if self.binary is None:
            raise VoiceUnavailable("espeak-ng is not installed (apt-get install espeak-ng)")
        async with self._slots:
            process = await asyncio.create_subprocess_exec(
                self.binary,
                "-v",
                VOICE,
                "-s",
                str(SPEED_WPM),
                "--stdout",
                text,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await process.communicate()
        if process.returncode != 0 or not out.startswith(b"RIFF"):
            raise VoiceUnavailable(f"espeak-ng failed: {err.decode(errors='replace')[:200]}")
        self.synthesised += 1
        self._cache[text] = out
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return out


SYNTH: Final = web.AppKey("voice", VoiceSynth)


async def call_audio(request: web.Request) -> web.Response:
    runtime = runtime_of(request)
    if isinstance(runtime, web.Response):
        return runtime
    number = request.query.get("number", "")
    try:
        window = int(request.query.get("window", ""))
    except ValueError:
        return error(400, "bad_request", "window must be a window number", problem="窗口号须为数字")
    if not NUMBER.match(number):
        return error(400, "bad_request", "number must look like A023", problem="号码须形如 A023")
    if runtime.engine.config.window(window) is None:
        return error(404, "unknown_window", f"no window {window}", window=window)
    recall = request.query.get("recall") in ("1", "true")
    try:
        audio = await request.app[SYNTH].wav(spoken_text(number, window, recall=recall))
    except VoiceUnavailable as exc:
        return error(409, "voice_unavailable", str(exc))
    return web.Response(
        body=audio, content_type="audio/wav", headers={"Cache-Control": "private, max-age=3600"}
    )


def add_voice_routes(app: web.Application, synth: VoiceSynth | None = None) -> None:
    app[SYNTH] = synth or VoiceSynth()
    app.router.add_get("/api/v1/halls/{hall}/voice.wav", call_audio)
