"""Drives hegui-testkit's FakeUpstream with the official `openai` client and asserts what it parses.

Usage: check_fake.py OPEN_BASE_URL KEYED_BASE_URL DEFAULT_REPLY   (KEYED requires the API key "sk-fake").
"""

import base64
import io
import struct
import sys
import wave

import openai

OPEN, KEYED = sys.argv[1], sys.argv[2]
DEFAULT_REPLY = sys.argv[3]
# No retries: a scripted 429/500 must surface at once, not after back-off.
client = openai.OpenAI(base_url=OPEN, api_key="sk-any", max_retries=0, timeout=10)
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def user(text):
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


# Non-streaming chat completion.
r = client.chat.completions.create(model="gpt-test", messages=user("你好"))
check(r.id.startswith("chatcmpl-"), r.id)
check(r.object == "chat.completion", r.object)
check(r.model == "gpt-test", r.model)
check(r.choices[0].message.role == "assistant", r.choices[0].message)
check(r.choices[0].message.content == DEFAULT_REPLY, r.choices[0].message.content)
check(r.choices[0].finish_reason == "stop", r.choices[0].finish_reason)
check(r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens > 0, r.usage)
check(r._request_id and r._request_id.startswith("req_"), r._request_id)

# Streaming with usage: exact chunks, role first, finish, then a usage chunk with no choices.
stream = client.chat.completions.create(
    model="gpt-test",
    messages=user("[[chunks:违|禁|词]]"),
    stream=True,
    stream_options={"include_usage": True},
)
chunks = list(stream)
check(chunks[0].choices[0].delta.role == "assistant", chunks[0])
contents = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
check(contents == ["违", "禁", "词"], contents)
finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
check(finish == ["stop"], finish)
check(chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3, chunks[-1])
check(all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks), "ids")

# Streaming without usage, array-of-parts content, echo.
parts = [{"type": "text", "text": "[[echo]] 第一段"}, {"type": "text", "text": "第二段"}]
stream = client.chat.completions.create(
    model="m", messages=[{"role": "user", "content": parts}], stream=True
)
text = "".join(c.choices[0].delta.content or "" for c in stream)
check(text == "[[echo]] 第一段\n第二段", text)

# The high-level streaming helper parses the same stream.
with client.chat.completions.stream(model="m", messages=user("[[reply:流式助手]]")) as s:
    final = s.get_final_completion()
check(final.choices[0].message.content == "流式助手", final)

# Scripted errors map to the SDK's typed exceptions.
for script, exc, code in [
    ("[[status:429]]", openai.RateLimitError, "rate_limit_exceeded"),
    ("[[status:500]]", openai.InternalServerError, None),
    ("[[status:400]]", openai.BadRequestError, None),
]:
    for streaming in (False, True):
        try:
            client.chat.completions.create(model="m", messages=user(script), stream=streaming)
            check(False, f"{script} did not raise")
        except exc as e:
            check(e.code == code and e.type is not None, (e.code, e.type, e.body))

# A hanging upstream is a client-side timeout.
try:
    client.with_options(timeout=0.5).chat.completions.create(model="m", messages=user("[[hang]]"))
    check(False, "hang did not time out")
except openai.APITimeoutError:
    check(True, "")

# Models.
check([m.id for m in client.models.list()] == ["fake-model"], "models")
check(client.models.retrieve("fake-model").id == "fake-model", "retrieve")
try:
    client.models.retrieve("nope")
    check(False, "missing model did not raise")
except openai.NotFoundError as e:
    check(e.code == "model_not_found", e.body)

# Images: real PNGs with the requested size.
img = client.images.generate(model="img", prompt="一只猫", n=2, size="96x48", response_format="b64_json")
check(len(img.data) == 2 and img.data[0].revised_prompt == "一只猫", img)
for d in img.data:
    png = base64.b64decode(d.b64_json)
    check(png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR", png[:16])
    check(struct.unpack(">II", png[16:24]) == (96, 48), png[16:24])

# Speech: a WAV the standard library can read.
speech = client.audio.speech.create(model="tts", voice="alloy", input="你好", response_format="wav")
with wave.open(io.BytesIO(speech.content)) as w:
    check((w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000), w.getparams())
    check(w.getnframes() == 8000, w.getnframes())
try:
    client.audio.speech.create(model="tts", voice="alloy", input="x", response_format="mp3")
    check(False, "mp3 did not raise")
except openai.BadRequestError as e:
    check("wav" in e.message, e.message)

# Authentication on the keyed fake.
bad = openai.OpenAI(base_url=KEYED, api_key="sk-wrong", max_retries=0)
try:
    bad.chat.completions.create(model="m", messages=user("hi"))
    check(False, "wrong key accepted")
except openai.AuthenticationError as e:
    check(e.status_code == 401 and e.code == "invalid_api_key", e.body)
good = openai.OpenAI(base_url=KEYED, api_key="sk-fake", max_retries=0)
check(good.chat.completions.create(model="m", messages=user("[[reply:ok]]")).choices[0].message.content == "ok", "auth")

print(f"python openai {openai.__version__}: {checks} checks passed")
