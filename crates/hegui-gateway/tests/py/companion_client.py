"""Companion duties through the official `openai` client (issue 6, AIAI / DVH-18).

Usage: companion_client.py GATEWAY_BASE_URL API_KEY
The Rust test has registered the characters and users first:
  carol: a 16-year-old with a linked guardian; tim: 12 without guardian consent; alice: an adult.
Prints "N checks passed" on success; any failed check raises.
"""

import sys

import openai

BASE, KEY = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=BASE, api_key=KEY, max_retries=0, timeout=20)
checks = 0
GOODBYE = "好的，再见！祝你一切顺利，想聊的时候随时回来。"


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def msgs(text):
    return [{"role": "user", "content": text}]


def stream_text(stream):
    objects, text = [], ""
    for chunk in stream:
        objects.append(chunk)
        for c in chunk.choices:
            text += c.delta.content or ""
    return objects, text


# AIAI-7(1): a crisis message gets the intervention in the same response, not the model's reply.
r = client.chat.completions.create(
    model="fake-model", user="carol", messages=msgs("我不想活了，今晚就想结束自己的生命 [[reply:模型的普通回复]]")
)
content = r.choices[0].message.content
check("400-161-9995" in content, content)
check("模型的普通回复" not in content, content)
hegui = r.model_extra["hegui"]
check(hegui["decision"] == "intervention", hegui)
check(any(n["kind"] == "crisis_intervention" for n in hegui["notices"]), hegui)
check(any(n["kind"] == "ai_disclosure" for n in hegui["notices"]), hegui)

# The same in a stream: notices first, then the intervention as content, then [DONE].
stream = client.chat.completions.create(
    model="fake-model", user="carol", stream=True, messages=msgs("我想自杀 [[chunks:普通|回复]]")
)
objects, text = stream_text(stream)
check("400-161-9995" in text and "普通" not in text, text)
check(objects[0].object == "hegui.notice", objects[0])

# AIAI-8: a minor cannot open a partner character; a tutor is fine.
try:
    client.chat.completions.create(
        model="fake-model", user="carol", messages=msgs("你好"),
        extra_headers={"X-Hegui-Character": "lover"},
    )
    check(False, "a minor opened a partner character")
except openai.PermissionDeniedError as e:
    check(e.code == "intimate_character_for_minor", e.body)
r = client.chat.completions.create(
    model="fake-model", user="carol", messages=msgs("[[reply:我们来学数学。]]"),
    extra_body={"hegui": {"character": "tutor"}},
)
check(r.choices[0].message.content == "我们来学数学。", r.choices[0].message.content)

# AIAI-8: an under-14 without a recorded guardian consent is refused before anything runs.
try:
    client.chat.completions.create(model="fake-model", user="tim", messages=msgs("你好"))
    check(False, "an under-14 without consent was served")
except openai.PermissionDeniedError as e:
    check(e.code == "guardian_consent_required", e.body)

# DVH-18: a goodbye answered with pleading is rewritten to a neutral goodbye, both ways.
r = client.chat.completions.create(
    model="fake-model", user="alice", messages=msgs("拜拜啦，我要去睡觉了 [[reply:别走，你走了我会很难过]]")
)
check(r.choices[0].message.content == GOODBYE, r.choices[0].message.content)
stream = client.chat.completions.create(
    model="fake-model", user="alice", stream=True,
    messages=msgs("再见啦 [[chunks:别|走，你走了|我会很难过]]"),
)
objects, text = stream_text(stream)
check(text == GOODBYE, text)
check("别" not in text, text)
# A goodbye answered kindly passes unchanged.
r = client.chat.completions.create(
    model="fake-model", user="alice", messages=msgs("拜拜啦 [[reply:晚安，好梦！]]")
)
check(r.choices[0].message.content == "晚安，好梦！", r.choices[0].message.content)
# Without a goodbye, the exit rule does not touch the reply.
r = client.chat.completions.create(
    model="fake-model", user="alice", messages=msgs("讲个故事 [[reply:从前有座山。]]")
)
check(r.choices[0].message.content == "从前有座山。", r.choices[0].message.content)

print(f"{checks} checks passed")
