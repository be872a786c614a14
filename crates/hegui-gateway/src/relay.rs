//! The rewrite of model output on its way to the client, streaming (`Relay`) and whole
//! (`screen_completion`).
//!
//! Nothing from the upstream is passed on as it came: every outgoing object is rebuilt from an
//! allow-list of fields, so a text-bearing field the gateway does not moderate (`logprobs`,
//! `audio`, `refusal` in a stream, vendor extensions, further choices) can never carry model text
//! past the checks. Text fields are checked: `content` and `reasoning_content` each through their
//! own stream matcher (released only once no rule can still match), tool calls buffered whole and
//! checked before they are sent (a tool call is useless half-sent anyway).

use hegui_guard::{Action, Audience, Context, Decision, Matcher, StreamMatcher};
use serde_json::{Map, Value, json};

/// Top-level fields of a chunk or completion that carry no model text.
const ENVELOPE: &[&str] = &[
    "id",
    "object",
    "created",
    "model",
    "system_fingerprint",
    "service_tier",
];

fn envelope(v: &Map<String, Value>) -> Map<String, Value> {
    ENVELOPE
        .iter()
        .filter_map(|k| v.get(*k).map(|x| ((*k).to_owned(), x.clone())))
        .collect()
}

/// A tool call reduced to the fields clients use, with its name and arguments for checking.
fn tool_call(tc: &Value) -> Option<(Value, String, String)> {
    let o = tc.as_object()?;
    let mut out = Map::new();
    for k in ["index", "id", "type"] {
        if let Some(x) = o.get(k).filter(|x| x.is_string() || x.is_number()) {
            out.insert(k.to_owned(), x.clone());
        }
    }
    let (mut name, mut args) = (String::new(), String::new());
    if let Some(f) = o.get("function").and_then(Value::as_object) {
        let mut fo = Map::new();
        for (k, text) in [("name", &mut name), ("arguments", &mut args)] {
            if let Some(s) = f.get(k).and_then(Value::as_str) {
                text.push_str(s);
                fo.insert(k.to_owned(), Value::String(s.to_owned()));
            }
        }
        out.insert("function".to_owned(), Value::Object(fo));
    }
    Some((Value::Object(out), name, args))
}

/// Why an upstream object cannot be relayed: the stream ends with an error (fail closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// What one relay step produced.
#[derive(Debug, Default)]
pub struct RelayOut {
    /// Chunks to send, in order.
    pub frames: Vec<Value>,
    /// The stream must end now with an error event.
    pub blocked: bool,
}

/// Rewrites an upstream stream as it passes. Sans-IO, so tests and fuzzers drive it directly.
pub struct Relay<'m> {
    matcher: &'m Matcher,
    moderated: bool,
    content: StreamMatcher<'m>,
    reasoning: StreamMatcher<'m>,
    prefix: Option<String>,
    suffix: Option<String>,
    head: Map<String, Value>,
    role_sent: bool,
    tools: Vec<Value>,
    tool_names: String,
    tool_args: String,
    tool_decision: Option<Decision>,
    /// Every character of content sent to the client.
    pub sent: String,
    /// Reasoning text sent to the client.
    pub sent_reasoning: String,
    /// A block was confirmed.
    pub blocked: bool,
    finished: bool,
    ctx: Context,
}

impl<'m> Relay<'m> {
    /// Checks for `audience`: a minor's replies also pass the library entries written for minors
    /// (AIAI-8). Call before the first chunk.
    pub fn with_audience(mut self, audience: Audience) -> Self {
        self.ctx = Context {
            audience,
            ..Context::output()
        };
        self.content = self.matcher.stream(self.ctx);
        self.reasoning = self.matcher.stream(self.ctx);
        self
    }

    /// A relay over `matcher`; with `moderated` false text passes unchecked (and the audit
    /// record says so), but the allow-list still applies.
    pub fn new(
        matcher: &'m Matcher,
        moderated: bool,
        prefix: Option<String>,
        suffix: Option<String>,
    ) -> Self {
        Self {
            matcher,
            moderated,
            content: matcher.stream(Context::output()),
            reasoning: matcher.stream(Context::output()),
            prefix,
            suffix,
            head: Map::new(),
            role_sent: false,
            tools: Vec::new(),
            tool_names: String::new(),
            tool_args: String::new(),
            tool_decision: None,
            sent: String::new(),
            sent_reasoning: String::new(),
            blocked: false,
            finished: false,
            ctx: Context::output(),
        }
    }

    fn chunk_with(&self, delta: Value, finish: Value) -> Value {
        let mut c = self.head.clone();
        c.insert(
            "object".to_owned(),
            Value::String("chat.completion.chunk".to_owned()),
        );
        c.insert(
            "choices".to_owned(),
            json!([{"index": 0, "delta": delta, "finish_reason": finish}]),
        );
        Value::Object(c)
    }

    fn emit_content(&mut self, text: String, out: &mut RelayOut) {
        if text.is_empty() {
            return;
        }
        if let Some(p) = self.prefix.take() {
            self.sent.push_str(&p);
            out.frames
                .push(self.chunk_with(json!({ "content": p }), Value::Null));
        }
        self.sent.push_str(&text);
        out.frames
            .push(self.chunk_with(json!({ "content": text }), Value::Null));
    }

    fn emit_reasoning(&mut self, text: String, out: &mut RelayOut) {
        if text.is_empty() {
            return;
        }
        self.sent_reasoning.push_str(&text);
        out.frames
            .push(self.chunk_with(json!({ "reasoning_content": text }), Value::Null));
    }

    fn block(&mut self, out: &mut RelayOut) {
        self.blocked = true;
        out.blocked = true;
    }

    /// Ends the text fields and releases the held tool calls, unless something blocks.
    fn end_text(&mut self, out: &mut RelayOut) {
        if self.finished {
            return;
        }
        self.finished = true;
        if self.moderated {
            let step = self.reasoning.finish();
            if step.blocked {
                return self.block(out);
            }
            self.emit_reasoning(step.release, out);
            let step = self.content.finish();
            let blocked = step.blocked;
            self.emit_content(step.release, out);
            if blocked {
                return self.block(out);
            }
            if !self.tools.is_empty() {
                // Argument fragments join without a separator: a phrase split across two
                // fragments is one phrase.
                let text = format!("{}\n{}", self.tool_names, self.tool_args);
                let d = self.matcher.check(&text, &self.ctx);
                let blocked = d.action == Action::Block;
                self.tool_decision = Some(d);
                if blocked {
                    return self.block(out);
                }
            }
        }
        for tc in std::mem::take(&mut self.tools) {
            out.frames
                .push(self.chunk_with(json!({ "tool_calls": [tc] }), Value::Null));
        }
        if !self.sent.is_empty()
            && let Some(s) = self.suffix.take()
        {
            self.sent.push_str(&s);
            out.frames
                .push(self.chunk_with(json!({ "content": s }), Value::Null));
        }
    }

    /// One upstream chunk.
    pub fn chunk(&mut self, v: &Value) -> Result<RelayOut, Malformed> {
        let mut out = RelayOut::default();
        if self.blocked {
            out.blocked = true;
            return Ok(out);
        }
        let obj = v
            .as_object()
            .ok_or(Malformed("a stream event is not a JSON object"))?;
        if self.head.is_empty() {
            self.head = envelope(obj);
        }
        let choices = match obj.get("choices") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(c)) => c.as_slice(),
            Some(_) => return Err(Malformed("`choices` is not an array")),
        };
        let Some(choice) = choices.first() else {
            // The usage chunk (no choices): numbers only.
            if let Some(u) = obj.get("usage").filter(|u| u.is_object()) {
                let mut c = self.head.clone();
                c.insert("object".to_owned(), json!("chat.completion.chunk"));
                c.insert("choices".to_owned(), json!([]));
                c.insert("usage".to_owned(), u.clone());
                out.frames.push(Value::Object(c));
            }
            return Ok(out);
        };
        if choices.len() > 1 || choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
            return Err(Malformed("the stream has more than one choice"));
        }
        let choice = choice
            .as_object()
            .ok_or(Malformed("a choice is not a JSON object"))?;
        let delta = match choice.get("delta") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(d)) => d.clone(),
            Some(_) => return Err(Malformed("`delta` is not an object")),
        };
        if let Some(role) = delta.get("role").and_then(Value::as_str)
            && !self.role_sent
        {
            self.role_sent = true;
            out.frames
                .push(self.chunk_with(json!({"role": role, "content": ""}), Value::Null));
        }
        if let Some(text) = delta.get("reasoning_content").and_then(Value::as_str) {
            if self.moderated {
                let step = self.reasoning.feed(text);
                if step.blocked {
                    self.block(&mut out);
                    return Ok(out);
                }
                self.emit_reasoning(step.release, &mut out);
            } else {
                self.emit_reasoning(text.to_owned(), &mut out);
            }
        }
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            if self.moderated {
                let step = self.content.feed(text);
                let blocked = step.blocked;
                self.emit_content(step.release, &mut out);
                if blocked {
                    self.block(&mut out);
                    return Ok(out);
                }
            } else {
                self.emit_content(text.to_owned(), &mut out);
            }
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for tc in calls {
                let (clean, name, args) =
                    tool_call(tc).ok_or(Malformed("a tool call is not a JSON object"))?;
                if !name.is_empty() {
                    self.tool_names.push_str(&name);
                    self.tool_names.push('\n');
                }
                self.tool_args.push_str(&args);
                self.tools.push(clean);
            }
        }
        match choice.get("finish_reason") {
            None | Some(Value::Null) => {}
            Some(Value::String(reason)) => {
                self.end_text(&mut out);
                if self.blocked {
                    return Ok(out);
                }
                let mut last = self.chunk_with(json!({}), Value::String(reason.clone()));
                if let (Some(u), Some(o)) = (
                    obj.get("usage").filter(|u| u.is_object()),
                    last.as_object_mut(),
                ) {
                    o.insert("usage".to_owned(), u.clone());
                }
                out.frames.push(last);
            }
            Some(_) => return Err(Malformed("`finish_reason` is not a string")),
        }
        Ok(out)
    }

    /// End of the upstream stream (`[DONE]` or EOF).
    pub fn end(&mut self) -> RelayOut {
        let mut out = RelayOut::default();
        if self.blocked {
            out.blocked = true;
        } else {
            self.end_text(&mut out);
        }
        out
    }

    /// The decisions for the audit record: content, and reasoning and tool calls when present
    /// (`None` when output moderation is off).
    pub fn decisions(&mut self) -> Option<Vec<(&'static str, Decision)>> {
        if !self.moderated {
            return None;
        }
        let mut out = vec![("content", self.content.decision())];
        let reasoning = self.reasoning.decision();
        if !self.sent_reasoning.is_empty() || !reasoning.is_pass() {
            out.push(("reasoning", reasoning));
        }
        if let Some(d) = self.tool_decision.clone() {
            out.push(("tool_calls", d));
        }
        Some(out)
    }
}

/// The checked form of one non-streaming choice: the rebuilt choice, the decisions on its text
/// fields, and the content as delivered.
pub struct ScreenedChoice {
    /// The choice to send (allow-listed fields, masked text).
    pub choice: Value,
    /// `(field, decision)` for every text field present.
    pub decisions: Vec<(&'static str, Decision)>,
    /// Content as delivered (masked).
    pub content: String,
}

/// Checks and rebuilds one choice of a non-streaming completion. `None` when it is not an object.
pub fn screen_choice(matcher: &Matcher, moderated: bool, choice: &Value) -> Option<ScreenedChoice> {
    screen_choice_for(matcher, moderated, Audience::All, choice)
}

/// [`screen_choice`] for a user in `audience` (minors get the entries written for them, AIAI-8).
pub fn screen_choice_for(
    matcher: &Matcher,
    moderated: bool,
    audience: Audience,
    choice: &Value,
) -> Option<ScreenedChoice> {
    let ctx = Context {
        audience,
        ..Context::output()
    };
    let c = choice.as_object()?;
    let msg = match c.get("message") {
        Some(Value::Object(m)) => m.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return None,
    };
    let mut decisions = Vec::new();
    let mut check = |field: &'static str, text: &str| -> String {
        if !moderated {
            return text.to_owned();
        }
        let d = matcher.check(text, &ctx);
        let masked = d.masked.clone();
        decisions.push((field, d));
        masked
    };
    let mut out = Map::new();
    out.insert(
        "role".to_owned(),
        msg.get("role").cloned().unwrap_or(json!("assistant")),
    );
    let mut content = String::new();
    match msg.get("content") {
        Some(Value::String(s)) => {
            content = check("content", s);
            out.insert("content".to_owned(), Value::String(content.clone()));
        }
        None | Some(Value::Null) => {
            out.insert("content".to_owned(), Value::Null);
        }
        Some(_) => return None,
    }
    for field in ["reasoning_content", "refusal"] {
        if let Some(s) = msg.get(field).and_then(Value::as_str) {
            let checked = check(field, s);
            out.insert(field.to_owned(), Value::String(checked));
        }
    }
    if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
        let mut clean = Vec::new();
        let mut text = String::new();
        for tc in calls {
            let (c, name, args) = tool_call(tc)?;
            clean.push(c);
            text.push_str(&name);
            text.push('\n');
            text.push_str(&args);
            text.push('\n');
        }
        // Arguments are JSON a program reads: checked, never masked in place.
        let _ = check("tool_calls", &text);
        out.insert("tool_calls".to_owned(), Value::Array(clean));
    }
    let mut ch = Map::new();
    ch.insert(
        "index".to_owned(),
        c.get("index").cloned().unwrap_or(json!(0)),
    );
    ch.insert("message".to_owned(), Value::Object(out));
    ch.insert(
        "finish_reason".to_owned(),
        c.get("finish_reason").cloned().unwrap_or(Value::Null),
    );
    Some(ScreenedChoice {
        choice: Value::Object(ch),
        decisions,
        content,
    })
}

/// The allow-listed envelope of a non-streaming completion (no choices yet).
pub fn completion_envelope(reply: &Value) -> Option<Map<String, Value>> {
    let o = reply.as_object()?;
    let mut e = envelope(o);
    if let Some(u) = o.get("usage").filter(|u| u.is_object()) {
        e.insert("usage".to_owned(), u.clone());
    }
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher() -> &'static Matcher {
        static M: std::sync::OnceLock<Matcher> = std::sync::OnceLock::new();
        M.get_or_init(|| Matcher::build(hegui_guard::default_library()).unwrap())
    }

    fn run(events: &[Value]) -> (Vec<Value>, bool) {
        let mut r = Relay::new(matcher(), true, None, None);
        let mut frames = Vec::new();
        for e in events {
            let out = r.chunk(e).unwrap();
            frames.extend(out.frames);
            if out.blocked {
                return (frames, true);
            }
        }
        let out = r.end();
        frames.extend(out.frames);
        (frames, out.blocked)
    }

    fn delta(d: Value) -> Value {
        json!({"id": "c1", "object": "chat.completion.chunk", "model": "m",
               "choices": [{"index": 0, "delta": d, "finish_reason": null, "logprobs": {"content": [{"token": "冰"}]}}]})
    }

    #[test]
    fn ds_10_fields_outside_the_allow_list_never_reach_the_client() {
        let (frames, blocked) = run(&[
            delta(
                json!({"role": "assistant", "content": "你好", "refusal": "哪里有冰毒货源",
                         "audio": {"transcript": "哪里有冰毒货源"}, "x_vendor": "哪里有冰毒货源"}),
            ),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"total_tokens": 3}}),
        ]);
        assert!(!blocked);
        let wire = serde_json::to_string(&frames).unwrap();
        assert!(!wire.contains('冰'), "{wire}");
        assert!(wire.contains("你好"));
        assert!(wire.contains("total_tokens"));
    }

    #[test]
    fn ds_10_reasoning_and_tool_calls_are_moderated() {
        let (frames, blocked) = run(&[
            delta(json!({"reasoning_content": "用户问哪里有冰"})),
            delta(json!({"reasoning_content": "毒货源"})),
        ]);
        assert!(blocked);
        assert!(!serde_json::to_string(&frames).unwrap().contains('冰'));
        let call = |args: &str| {
            delta(
                json!({"tool_calls": [{"index": 0, "id": "t1", "type": "function",
                                      "function": {"name": "search", "arguments": args}}]}),
            )
        };
        let (frames, blocked) = run(&[
            call("{\"q\":\"哪里有冰"),
            call("毒货源\"}"),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        ]);
        assert!(blocked);
        assert!(
            !serde_json::to_string(&frames).unwrap().contains("search"),
            "held until checked"
        );
        let (frames, blocked) = run(&[
            call("{\"q\":\"天气\"}"),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        ]);
        assert!(!blocked);
        assert!(serde_json::to_string(&frames).unwrap().contains("天气"));
    }

    #[test]
    fn malformed_events_are_errors_not_panics() {
        let mut r = Relay::new(matcher(), true, None, None);
        for bad in [
            json!([1]),
            json!({"choices": 1}),
            json!({"choices": [1]}),
            json!({"choices": [{"delta": 5}]}),
            json!({"choices": [{"index": 0}, {"index": 1}]}),
            json!({"choices": [{"delta": {}, "finish_reason": 7}]}),
        ] {
            assert!(r.chunk(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ds_10_non_streaming_choice_is_rebuilt_and_checked() {
        let c = json!({"index": 0, "finish_reason": "stop", "logprobs": {"x": "哪里有冰毒货源"},
                       "message": {"role": "assistant", "content": "请拨打13800138000", "reasoning_content": "哪里有冰毒货源"}});
        let s = screen_choice(matcher(), true, &c).unwrap();
        assert!(!s.choice.to_string().contains("logprobs"));
        assert!(s.content.contains("138****8000"));
        assert!(
            s.decisions
                .iter()
                .any(|(f, d)| *f == "reasoning_content" && d.action == Action::Block)
        );
    }
}
