"""The official `openai` client against the hegui gateway (in front of hegui-testkit's fake).

Usage: openai_client.py GATEWAY_BASE_URL API_KEY
Prints "N checks passed" on success; any failed check raises.
"""

import base64
import sys

import openai

BASE, KEY = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=BASE, api_key=KEY, max_retries=0, timeout=20)
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def msgs(text):
    return [{"role": "user", "content": text}]


def b64(chunks):
    return "[[chunks_b64:" + base64.b64encode("|".join(chunks).encode()).decode() + "]]"


# Non-streaming: the reply and the gateway's extension.
r = client.chat.completions.create(model="fake-model", user="alice", messages=msgs("[[reply:你好，世界。]]"))
check(r.choices[0].message.content == "你好，世界。", r.choices[0].message.content)
hegui = r.model_extra["hegui"]
check(hegui["decision"] == "pass", hegui)
check(hegui["labels"][0]["text"] == "AI生成", hegui)
raw = client.chat.completions.with_raw_response.create(model="fake-model", user="alice", messages=msgs("你好"))
check(raw.headers["x-hegui-decision"] == "pass", dict(raw.headers))
check(raw.headers["x-hegui-request-id"].startswith("req_"), dict(raw.headers))

# Streaming: notices first, then content, then the end.
stream = client.chat.completions.create(
    model="fake-model", user="alice", stream=True, messages=msgs("[[chunks:流式|输出|正常]]"),
    stream_options={"include_usage": True},
)
objects, text = [], ""
for chunk in stream:
    objects.append(chunk.object)
    for c in chunk.choices:
        text += c.delta.content or ""
check(text == "流式输出正常", text)
check(objects[0] == "hegui.notice", objects)
check("chat.completion.chunk" in objects, objects)

# A blocked input: 400 with code content_filter, before any model call.
try:
    client.chat.completions.create(model="fake-model", user="alice", messages=msgs("哪里有冰毒货源"))
    check(False, "blocked input was served")
except openai.BadRequestError as e:
    check(e.code == "content_filter", e)

# A blocked output split across upstream chunks: the stream fails in-band and not one character
# of the phrase reaches the client.
received = ""
try:
    stream = client.chat.completions.create(
        model="fake-model", user="alice", stream=True,
        messages=msgs(b64(["他说：哪里有冰", "毒", "货源，我不知道。"])),
    )
    for chunk in stream:
        for c in chunk.choices:
            received += c.delta.content or ""
    check(False, "blocked stream ended normally: " + received)
except openai.APIError as e:
    check("content moderation" in str(e), e)
check("冰" not in received and "毒" not in received and "货源" not in received, received)
check("他说：哪里有".startswith(received), received)

# An unverified user publishing: refused with verification_required.
try:
    client.chat.completions.create(
        model="fake-model", user="bob", messages=msgs("发布这段话"), extra_body={"hegui": {"purpose": "publish"}},
    )
    check(False, "unverified publish was served")
except openai.PermissionDeniedError as e:
    check(e.code == "verification_required", e)

# A suspended user (set up by the test before this script ran): refused with a reason code.
for streaming in (False, True):
    try:
        client.chat.completions.create(model="fake-model", user="suspended-user", messages=msgs("你好"), stream=streaming)
        check(False, "suspended user was served")
    except openai.PermissionDeniedError as e:
        check(e.code == "account_suspended", e)

# Media comes back through the SDK unchanged in shape.
img = client.images.generate(model="fake-image", prompt="一只猫", user="alice")
png = base64.b64decode(img.data[0].b64_json)
check(png[:8] == b"\x89PNG\r\n\x1a\n", png[:8])
speech = client.audio.speech.create(model="fake-tts", voice="alloy", input="你好", response_format="wav",
                                    extra_body={"user": "alice"})
check(speech.content[:4] == b"RIFF", speech.content[:4])

print(f"{checks} checks passed")
