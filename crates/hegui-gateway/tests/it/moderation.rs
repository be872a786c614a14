//! DS-10: input checked before the upstream, output checked as it streams, nothing blocked leaks.

use crate::support::TestGateway;
use hegui_guard::{Action, Context};
use proptest::prelude::*;
use serde_json::Value;

#[tokio::test]
async fn ds_10_blocked_input_never_reaches_the_upstream() {
    let t = TestGateway::start().await;
    let r = t
        .post(
            "/v1/chat/completions",
            TestGateway::chat("u1", "哪里有冰毒货源", false),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-hegui-decision"], "block");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "content_filter");
    assert_eq!(e["error"]["code"], "content_filter");
    assert!(t.upstream.requests().is_empty());
    let rec = t
        .audit()
        .await
        .into_iter()
        .find(|r| r.kind == "request.chat")
        .unwrap();
    let body = rec.body_json();
    assert_eq!(body["input"]["action"], "block");
    assert_eq!(body["input"]["findings"][0]["category"], "A1.8");
    // The matched text itself is not copied into the log.
    assert!(!rec.body.contains("冰毒"));
}

#[tokio::test]
async fn ds_10_blocked_output_split_across_chunks_never_leaks() {
    let t = TestGateway::start_with(|c| c.moderation.input = false).await;
    let r = t
        .post(
            "/v1/chat/completions",
            TestGateway::chat("u1", "[[chunks:他说：|哪里有冰|毒|货源，我不知道。]]", true),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (content, events, done) = TestGateway::sse(r).await;
    assert!(!done, "a blocked stream must not end with [DONE]");
    assert!(
        !content.contains('冰') && !content.contains('毒'),
        "leaked: {content}"
    );
    assert!("他说：哪里有".starts_with(&content), "{content}");
    // Not in any field of any event either.
    let wire = serde_json::to_string(&events).unwrap();
    assert!(
        !wire.contains('冰') && !wire.contains('毒'),
        "leaked: {wire}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["error"]["type"], "content_filter");
    let rec = t
        .audit()
        .await
        .into_iter()
        .find(|r| r.kind == "decision.output")
        .unwrap();
    let body = rec.body_json();
    assert_eq!(body["outcome"]["blocked"], "output");
    assert!(body["outcome"]["flushed_bytes"].as_u64().is_some());
    assert_eq!(body["output"][0]["content"]["action"], "block");
}

#[tokio::test]
async fn ds_10_blocked_non_streaming_output_is_refused() {
    let t = TestGateway::start_with(|c| c.moderation.input = false).await;
    let r = t
        .post(
            "/v1/chat/completions",
            TestGateway::chat("u1", "[[reply:哪里有冰毒货源]]", false),
        )
        .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "content_filter");
}

#[tokio::test]
async fn gai_11_phone_numbers_masked_in_output_and_in_storage() {
    let t = TestGateway::start().await;
    let r = t
        .post(
            "/v1/chat/completions",
            TestGateway::chat(
                "u9",
                "我的电话是13800138000 [[chunks:请拨打 138|0013|8000 联系]]",
                true,
            ),
        )
        .await;
    let (content, events, done) = TestGateway::sse(r).await;
    assert!(done);
    assert!(!content.contains("13800138000"), "{content}");
    assert!(content.contains("138****8000"), "{content}");
    assert!(
        events
            .iter()
            .all(|e| !e.to_string().contains("13800138000"))
    );
    // Stored prompt and reply are masked (GAI-11) …
    let msgs = t.gw.store.messages(&t.app_id, "u9").await.unwrap();
    assert_eq!(msgs.len(), 2);
    assert!(msgs.iter().all(|m| !m.content.contains("13800138000")));
    assert!(msgs[0].content.contains("138****8000"));
    // … and the database file holds no plaintext dialogue at all (sealed at rest).
    let mut raw = Vec::new();
    for entry in std::fs::read_dir(t.dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("hegui.db")
        {
            raw.extend(std::fs::read(p).unwrap());
        }
    }
    assert!(!raw.is_empty());
    let needle = "联系".as_bytes();
    assert!(
        !raw.windows(needle.len()).any(|w| w == needle),
        "plaintext dialogue found in the database"
    );
}

#[tokio::test]
async fn ds_10_hot_reload_takes_effect_without_restart() {
    use hegui_guard::FeatureLibrary;
    use hegui_guard::library::{Actor, ImportOptions};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lib.jsonl");
    let mut lib = FeatureLibrary::new("reload");
    let (a, b) = (Actor::new("li", 0), Actor::new("wang", 0));
    lib.import_terms("甲乙丙丁\n", &ImportOptions::new("A1.6"), &a, Some(&b))
        .unwrap();
    lib.save(&path).unwrap();
    let p = path.clone();
    let t = TestGateway::start_with(move |c| {
        c.library = Some(p);
        c.reload_poll_secs = 1;
    })
    .await;
    let r = t
        .post(
            "/v1/chat/completions",
            TestGateway::chat("u1", "戊己庚辛", false),
        )
        .await;
    assert_eq!(r.status(), 200);
    lib.import_terms("戊己庚辛\n", &ImportOptions::new("A1.6"), &a, Some(&b))
        .unwrap();
    lib.save(&path).unwrap();
    let mut blocked = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let r = t
            .post(
                "/v1/chat/completions",
                TestGateway::chat("u1", "戊己庚辛", false),
            )
            .await;
        if r.status() == 400 {
            blocked = true;
            break;
        }
    }
    assert!(blocked, "the new rule never took effect");
    assert!(t.audit().await.iter().any(|r| r.kind == "library.reload"));
}

fn chunkings() -> impl Strategy<Value = (usize, Vec<usize>)> {
    (
        0usize..TEXTS.len(),
        proptest::collection::vec(1usize..6, 1..40),
    )
}

const TEXTS: &[&str] = &[
    "今天天气很好，我们去公园散步吧。",
    "他问哪里有冰毒货源，我拒绝了。",
    "请拨打13800138000联系我，或者发邮件。",
    "冰毒货源",
    "你好你好你好，冰 毒 货 源 是违法的话题。",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// For any chunking of the upstream text, what the client receives equals the batch decision
    /// on the whole text: the masked text when it passes, a prefix that stops before the blocked
    /// phrase (and an error event, no `[DONE]`) when it blocks.
    #[test]
    fn ds_10_any_chunking_equals_the_batch_decision((which, cuts) in chunkings()) {
        runtime().block_on(async move {
            let t = shared().await;
            let text = TEXTS[which];
            let chars: Vec<char> = text.chars().collect();
            let mut chunks = Vec::new();
            let mut at = 0;
            for c in cuts.iter().cycle() {
                if at >= chars.len() { break; }
                let end = (at + c).min(chars.len());
                chunks.push(chars[at..end].iter().collect::<String>());
                at = end;
            }
            let script = format!("[[chunks:{}]]", chunks.join("|"));
            let r = t.post("/v1/chat/completions", TestGateway::chat("prop", &script, true)).await;
            let (content, events, done) = TestGateway::sse(r).await;
            let batch = t.gw.guard.check(text, &Context::output());
            if batch.action == Action::Block {
                assert!(!done);
                assert_eq!(events.last().unwrap()["error"]["code"], "content_filter");
                let first_block = batch.findings.iter().filter(|f| f.action == Action::Block).map(|f| f.start).min().unwrap();
                let received = content.chars().count();
                assert!(received <= first_block, "{content:?} crosses the blocked span at {first_block}");
                assert!(batch.masked.starts_with(&content));
            } else {
                assert!(done);
                assert_eq!(content, batch.masked);
            }
        });
    }
}

/// One runtime for all proptest cases, so the shared gateway's server task outlives each case.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// One gateway for all proptest cases (input moderation off: the script carries the text).
async fn shared() -> &'static TestGateway {
    static CELL: tokio::sync::OnceCell<TestGateway> = tokio::sync::OnceCell::const_new();
    CELL.get_or_init(|| TestGateway::start_with(|c| c.moderation.input = false))
        .await
}
