//! The gateway through the real `hegui` binary: `config example`, `app create`, `admin token`,
//! `serve` and `audit verify` as an operator runs them, over HTTP and against the SQLite file.
//!
//! Every served gateway listens on `127.0.0.1:0` and announces its address on stderr, so tests
//! never race for a port; a guard kills the process however the test ends.

use serde_json::{Value, json};
use sqlx::{ConnectOptions, Connection, Row};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Settings the binary reads from the environment; cleared so the host cannot change a test.
const HEGUI_ENV: [&str; 8] = [
    "HEGUI_CONFIG",
    "HEGUI_DATA_DIR",
    "HEGUI_DATABASE_URL",
    "HEGUI_LISTEN",
    "HEGUI_UPSTREAM",
    "HEGUI_UPSTREAM_KEY",
    "HEGUI_LIBRARY",
    "HEGUI_WORKERS",
];

fn hegui_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hegui"));
    for v in HEGUI_ENV {
        c.env_remove(v);
    }
    c.env("HEGUI_LOG", "warn");
    c
}

/// Runs a short `hegui` command to completion (blocking is fine on the multi-thread runtime).
fn hegui(args: &[&str]) -> Output {
    tokio::task::block_in_place(|| hegui_cmd().args(args).output().expect("hegui runs"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A running `hegui serve`; killed (SIGKILL) when dropped.
struct Served {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
}

impl Served {
    /// `hegui serve --data-dir DATA --listen 127.0.0.1:0 EXTRA…`, ready to answer.
    async fn start(data: &Path, extra: &[&str]) -> Served {
        let mut args = vec!["serve", "--data-dir", s(data), "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Served::spawn(&args).await
    }

    /// `hegui ARGS…` (a `serve` command), ready to answer.
    async fn spawn(args: &[&str]) -> Served {
        let mut child = hegui_cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hegui serve starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        {
            let log = log.clone();
            // Keeps draining stderr for the life of the process, so logging never blocks it.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    {
                        let mut l = log.lock().unwrap();
                        l.push_str(&line);
                        l.push('\n');
                    }
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        let addr = rest.split('/').next().unwrap_or_default().to_owned();
                        let _ = tx.send(addr);
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            if let Ok(a) = rx.try_recv() {
                break a;
            }
            if let Some(status) = child.try_wait().unwrap() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                panic!("hegui serve exited ({status}):\n{}", log.lock().unwrap());
            }
            assert!(
                Instant::now() < deadline,
                "hegui serve did not announce its address"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        let served = Served {
            child,
            base: format!("http://{addr}"),
            log,
        };
        // Ready means /healthz answers, not merely that the port is bound.
        let c = client();
        loop {
            if let Ok(r) = c.get(served.url("/healthz")).send().await
                && r.status() == 200
            {
                break;
            }
            assert!(Instant::now() < deadline, "no /healthz:\n{}", served.log());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        served
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `kill -9`: no shutdown code runs.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Ctrl-C (SIGINT), as an operator stops it; returns how it exited.
    async fn interrupt(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let o = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(o.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "hegui serve ignored SIGINT for 10 s"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

/// `hegui app create`: checks the output shape and returns the key (the last line).
fn app_create(data: &Path, name: &str) -> String {
    let o = hegui(&["app", "create", "--name", name, "--data-dir", s(data)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains(&format!("application {name} registered as app_")),
        "{out}"
    );
    out.lines().last().unwrap().trim().to_owned()
}

/// `hegui admin token`: returns (config stanza, token); checks the stanza holds the token's hash.
fn admin_token(name: &str, role: &str) -> (String, String) {
    let o = hegui(&["admin", "token", "--name", name, "--role", role]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let token = out.lines().last().unwrap().trim().to_owned();
    let stanza: String = out
        .lines()
        .filter(|l| !l.starts_with('#') && l.trim() != token)
        .map(|l| format!("{l}\n"))
        .collect();
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(token.as_bytes()));
    assert!(
        stanza.contains(&format!("token_sha256 = \"{hash}\"")),
        "{out}"
    );
    (stanza, token)
}

/// A config file holding one admin token; returns (path, token).
fn config_with_admin(dir: &Path) -> (PathBuf, String) {
    let (stanza, token) = admin_token("ops", "admin");
    let path = dir.join("hegui.toml");
    std::fs::write(&path, stanza).unwrap();
    (path, token)
}

/// `hegui audit verify`: (exit code, stdout).
fn verify(data: &Path) -> (i32, String) {
    let o = hegui(&["audit", "verify", "--data-dir", s(data)]);
    (
        o.status.code().unwrap_or(-1),
        text(&o.stdout) + &text(&o.stderr),
    )
}

fn chat_body(user: &str, content: &str, stream: bool, model: &str) -> Value {
    json!({
        "model": model,
        "user": user,
        "stream": stream,
        "messages": [{"role": "user", "content": content}],
    })
}

/// Why a request did not complete.
#[derive(Debug)]
struct Incomplete {
    /// The request id, if the response headers arrived.
    request_id: Option<String>,
    /// Content bytes the client had received.
    bytes: usize,
    why: String,
}

/// One chat request; `Ok(request id)` only when the client received the whole response:
/// a 200 with a complete JSON answer, or a stream through `data: [DONE]`.
async fn chat_once(
    c: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Value,
) -> Result<String, Incomplete> {
    let fail = |rid: Option<String>, bytes: usize, why: String| Incomplete {
        request_id: rid,
        bytes,
        why,
    };
    let resp = c
        .post(url)
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .map_err(|e| fail(None, 0, format!("send: {e}")))?;
    let rid = resp
        .headers()
        .get("x-hegui-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = resp.status();
    if status != 200 {
        return Err(fail(rid, 0, format!("status {status}")));
    }
    let Some(rid) = rid else {
        return Err(fail(None, 0, "no X-Hegui-Request-Id".into()));
    };
    let mut resp = resp;
    let mut got = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(b)) => got.extend_from_slice(&b),
            Ok(None) => break,
            Err(e) => return Err(fail(Some(rid), got.len(), format!("body: {e}"))),
        }
    }
    if body["stream"] == true {
        let t = text(&got);
        if t.contains("data: [DONE]") {
            Ok(rid)
        } else {
            Err(fail(
                Some(rid),
                got.len(),
                "stream ended before [DONE]".into(),
            ))
        }
    } else {
        match serde_json::from_slice::<Value>(&got) {
            Ok(v) if v["choices"][0]["message"]["content"].is_string() => Ok(rid),
            _ => Err(fail(Some(rid), got.len(), "incomplete JSON".into())),
        }
    }
}

/// A record's body: the admin API returns it as the JSON text that was hashed.
fn body_of(record: &Value) -> Value {
    serde_json::from_str(
        record["body"]
            .as_str()
            .unwrap_or_else(|| panic!("{record}")),
    )
    .unwrap()
}

async fn sqlite(data: &Path) -> sqlx::SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(data.join("hegui.db"))
        .connect()
        .await
        .unwrap()
}

/// The `decision.output` records (a chat request's outcome) in the file: request id → body.
async fn chat_records(data: &Path) -> HashMap<String, Value> {
    let mut db = sqlite(data).await;
    let rows = sqlx::query("SELECT request_id, body FROM audit WHERE kind = 'decision.output'")
        .fetch_all(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    rows.iter()
        .map(|r| {
            let body: String = r.get("body");
            (r.get("request_id"), serde_json::from_str(&body).unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_example_prints_a_commented_config_that_serve_accepts() {
    let o = hegui(&["config", "example"]);
    assert!(o.status.success());
    let example = text(&o.stdout);
    // Commented: every section is explained, and the admin stanza shows how to get a token.
    let comments = example
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .count();
    assert!(comments >= 20, "{comments} comment lines:\n{example}");
    for needle in ["hegui admin token", "180", "hegui-demo", "[[admin]]"] {
        assert!(example.contains(needle), "example lacks {needle:?}");
    }
    // It is TOML with the documented defaults.
    let v: toml::Table = toml::from_str(&example).unwrap();
    assert_eq!(v["listen"].as_str(), Some("127.0.0.1:8080"));
    assert_eq!(v["upstream"].as_str(), Some(""));
    assert_eq!(v["moderation"]["input"].as_bool(), Some(true));
    assert_eq!(v["moderation"]["output"].as_bool(), Some(true));
    assert_eq!(v["audit"]["retention_days"].as_integer(), Some(180));
    assert_eq!(v["labels"]["chat"].as_str(), Some("ui"));
    assert_eq!(v["disposal"]["suspension"].as_integer(), Some(5));

    // `serve --config` runs on the example as printed, with only the address and data
    // directory changed, and takes them from the file (no flags).
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let edited = example
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"")
        .replace(
            "data_dir = \"hegui-data\"",
            &format!("data_dir = {:?}", s(&data)),
        );
    assert_ne!(edited, example);
    let cfg = dir.path().join("hegui.toml");
    std::fs::write(&cfg, &edited).unwrap();
    let mut gw = Served::spawn(&["serve", "--config", s(&cfg)]).await;
    assert!(
        data.join("hegui.db").exists(),
        "data_dir from the file is used"
    );
    assert!(gw.log().contains("hegui-demo"), "{}", gw.log());
    // Ctrl-C stops it cleanly.
    assert!(gw.interrupt().await.success(), "{}", gw.log());

    // A value the law forbids is refused at start, naming the setting.
    std::fs::write(
        &cfg,
        edited.replace("retention_days = 180", "retention_days = 30"),
    )
    .unwrap();
    let o = hegui(&["serve", "--config", s(&cfg)]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("audit.retention_days"),
        "{}",
        text(&o.stderr)
    );
    // So is a misspelt key.
    std::fs::write(&cfg, format!("{edited}\nlisten_addr = \"x\"\n")).unwrap();
    let o = hegui(&["serve", "--config", s(&cfg)]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("listen_addr"),
        "{}",
        text(&o.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_create_prints_the_api_key_last() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = app_create(&data, "first");
    assert!(
        key.starts_with("hg-") && key.len() > 20 && !key.contains(' '),
        "{key:?}"
    );
    let gw = Served::start(&data, &[]).await;
    let c = client();
    let models = |key: String| {
        let c = c.clone();
        let url = gw.url("/v1/models");
        async move { c.get(url).bearer_auth(key).send().await.unwrap() }
    };
    let r = models(key.clone()).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, ["hegui-demo"], "{v}");

    // A key created while the gateway runs (a second process on the same SQLite file) works
    // at once; a made-up key does not.
    let second = app_create(&data, "second");
    assert_ne!(second, key);
    assert_eq!(models(second.clone()).await.status(), 200);
    let r = models(format!("{key}x")).await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key", "{v}");
    // And it answers a chat with the demo model.
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&second)
        .json(&chat_body("u1", "你好", false, "hegui-demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A duplicate name is refused.
    let o = hegui(&["app", "create", "--name", "first", "--data-dir", s(&data)]);
    assert!(!o.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ds_16_audit_verify_finds_an_edited_and_a_deleted_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = app_create(&data, "audited");
    let mut gw = Served::start(&data, &[]).await;
    {
        let c = client();
        let url = gw.url("/v1/chat/completions");
        for i in 0..4 {
            let body = chat_body(&format!("u{i}"), "你好", i % 2 == 0, "hegui-demo");
            chat_once(&c, &url, &key, &body).await.unwrap();
        }
    }
    assert!(gw.interrupt().await.success(), "{}", gw.log());

    let (code, out) = verify(&data);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit chain intact"), "{out}");

    // A wrong path (or a wiped database) is an error, never an "intact" empty chain, and
    // verifying creates nothing.
    let missing = dir.path().join("no-such-data");
    let (code, out) = verify(&missing);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("no database"), "{out}");
    assert!(!missing.exists());

    // Clean copies (VACUUM INTO folds the WAL in) for the deletion cases.
    let copy = |name: &str| {
        let to = dir.path().join(name);
        std::fs::create_dir_all(&to).unwrap();
        let file = to.join("hegui.db");
        let data = data.clone();
        async move {
            let mut db = sqlite(&data).await;
            sqlx::query("VACUUM INTO ?")
                .bind(s(&file))
                .execute(&mut db)
                .await
                .unwrap();
            db.close().await.unwrap();
            to
        }
    };
    let mid_copy = copy("mid").await;
    let tail_copy = copy("tail").await;

    // Edit: a decision record's outcome is rewritten in place.
    let mut db = sqlite(&data).await;
    let rows =
        sqlx::query("SELECT seq, body FROM audit WHERE kind = 'decision.output' ORDER BY seq")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 4);
    let seq: i64 = rows[1].get("seq");
    let original: String = rows[1].get("body");
    let mut edited: Value = serde_json::from_str(&original).unwrap();
    assert_eq!(edited["outcome"]["delivered"], true, "{edited}");
    edited["outcome"] = json!({"error": "upstream_error"});
    sqlx::query("UPDATE audit SET body = ? WHERE seq = ?")
        .bind(edited.to_string())
        .bind(seq)
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    let (code, out) = verify(&data);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("record {seq}: contents edited")),
        "{out}"
    );

    // Restored byte for byte, the chain verifies again.
    let mut db = sqlite(&data).await;
    sqlx::query("UPDATE audit SET body = ? WHERE seq = ?")
        .bind(&original)
        .bind(seq)
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    assert_eq!(verify(&data).0, 0);

    // Delete: a record in the middle of the chain.
    let mut db = sqlite(&mid_copy).await;
    let (lo, hi): (i64, i64) = sqlx::query_as("SELECT MIN(seq), MAX(seq) FROM audit")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(hi - lo >= 4, "{lo}..{hi}");
    let mid = (lo + hi) / 2;
    sqlx::query("DELETE FROM audit WHERE seq = ?")
        .bind(mid)
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    let (code, out) = verify(&mid_copy);
    assert_eq!(code, 1, "{out}");
    // The range is half-open: `records 2..3 missing` names record 2.
    assert!(
        out.contains(&format!("records {mid}..{} missing", mid + 1)),
        "{out}"
    );

    // Delete: the newest record (a cut tail leaves every remaining link intact).
    let mut db = sqlite(&tail_copy).await;
    sqlx::query("DELETE FROM audit WHERE seq = ?")
        .bind(hi)
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    let (code, out) = verify(&tail_copy);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("seq {hi}")), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ds_16_kill_9_under_load_loses_no_audit_record_of_a_delivered_response() {
    const TASKS: usize = 8;
    let upstream = hegui_testkit::FakeUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (cfg, admin) = config_with_admin(dir.path());
    let key = app_create(&data, "load");
    let up = upstream.base_url();
    let args = ["--upstream", up.as_str(), "--config", s(&cfg)];
    let mut gw = Served::start(&data, &args).await;

    // Each reply streams 20 deltas 2 ms apart, so at any moment most tasks are mid-response.
    let delivered = Arc::new(Mutex::new(Vec::<(String, bool)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicUsize::new(0));
    let url = gw.url("/v1/chat/completions");
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (c, url, key) = (client(), url.clone(), key.clone());
        let (delivered, stop, started) = (delivered.clone(), stop.clone(), started.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let stream = (t + i).is_multiple_of(2);
                let body = chat_body(
                    &format!("user{t}"),
                    &format!("第{i}个问题 [[reply:这是一段用于压力测试的回复文字，共有二十多个字。]] [[delay_ms:2]]"),
                    stream,
                    "fake-model",
                );
                started.fetch_add(1, Ordering::SeqCst);
                match chat_once(&c, &url, &key, &body).await {
                    Ok(rid) => delivered.lock().unwrap().push((rid, stream)),
                    // Before the kill every request must succeed; after it, this one was cut.
                    Err(e) => return Some((e, stream, stop.load(Ordering::SeqCst))),
                }
                i += 1;
            }
            None
        }));
    }
    let began = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Enough traffic to mean something, and every task still going.
    assert!(
        delivered.lock().unwrap().len() >= TASKS,
        "only {} delivered:\n{}",
        delivered.lock().unwrap().len(),
        gw.log()
    );
    assert!(tasks.iter().all(|t| !t.is_finished()), "{}", gw.log());
    stop.store(true, Ordering::SeqCst);
    gw.kill();
    let killed_after = began.elapsed();

    let mut cut = Vec::new();
    for t in tasks {
        if let Some((e, stream, after_kill)) = tokio::time::timeout(Duration::from_secs(20), t)
            .await
            .expect("client tasks end after the kill")
            .unwrap()
        {
            assert!(after_kill, "failed before the kill: {e:?}");
            cut.push((e, stream));
        }
    }
    let delivered = std::mem::take(&mut *delivered.lock().unwrap());
    let streams = delivered.iter().filter(|(_, s)| *s).count();
    let with_headers = cut.iter().filter(|(e, _)| e.request_id.is_some()).count();
    let partial = cut.iter().filter(|(e, _)| e.bytes > 0).count();
    let cut_streams = cut.iter().filter(|(_, s)| *s).count();
    eprintln!(
        "kill -9 after {killed_after:?}: {} requests started, {} delivered completely \
         ({streams} streamed, {} not), {} in flight at the kill ({cut_streams} streamed; \
         {with_headers} with response headers, {partial} with part of the body): {:?}",
        started.load(Ordering::SeqCst),
        delivered.len(),
        delivered.len() - streams,
        cut.len(),
        cut.iter().map(|(e, _)| e.why.as_str()).collect::<Vec<_>>()
    );
    assert!(
        !cut.is_empty(),
        "the kill landed between requests: nothing was in flight"
    );

    // The chain survives the kill.
    let (code, out) = verify(&data);
    assert_eq!(code, 0, "{out}");

    // Every delivered response has its record, and the record says it was delivered.
    let records = chat_records(&data).await;
    for (rid, stream) in &delivered {
        let body = records
            .get(rid)
            .unwrap_or_else(|| panic!("no audit record for delivered {rid} (stream {stream})"));
        assert_eq!(body["outcome"]["delivered"], true, "{rid}: {body}");
    }
    let cut_recorded = cut
        .iter()
        .filter(|(e, _)| {
            e.request_id
                .as_ref()
                .is_some_and(|r| records.contains_key(r))
        })
        .count();
    eprintln!(
        "{} decision.output records after the kill; {cut_recorded} of the {with_headers} cut \
         requests with an id have one",
        records.len()
    );

    // The restarted gateway serves the same records through the admin API.
    let gw = Served::start(&data, &args).await;
    let c = client();
    for (rid, _) in &delivered {
        let v: Value = c
            .get(gw.url("/admin/audit"))
            .query(&[("request_id", rid.as_str())])
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let kinds: Vec<&str> = v["data"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .filter_map(|r| r["kind"].as_str())
            .collect();
        assert!(kinds.contains(&"request.chat"), "{rid}: {v}");
    }
    // And keeps appending to the same chain.
    let r = chat_once(
        &c,
        &gw.url("/v1/chat/completions"),
        &key,
        &chat_body("after", "你好", true, "fake-model"),
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    let v: Value = c
        .get(gw.url("/admin/audit/verify"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gai_19_suspended_user_gets_403_with_reason_code() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (cfg, admin) = config_with_admin(dir.path());
    let key = app_create(&data, "chat-app");
    let gw = Served::start(&data, &["--config", s(&cfg)]).await;
    let c = client();
    let chat = |user: &str| {
        c.post(gw.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&chat_body(user, "你好", false, "hegui-demo"))
            .send()
    };
    // The users exist once they have been seen.
    assert_eq!(chat("alice").await.unwrap().status(), 200);
    assert_eq!(chat("bob").await.unwrap().status(), 200);

    let apps: Value = c
        .get(gw.url("/admin/apps"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app = apps["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "chat-app")
        .unwrap_or_else(|| panic!("{apps}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Only a holder of an admin token may suspend.
    let disposal = json!({"level": "suspended", "reason": "manual_review"});
    let path = gw.url(&format!("/admin/apps/{app}/users/alice/disposal"));
    let r = c
        .post(&path)
        .bearer_auth(&key)
        .json(&disposal)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(&path)
        .bearer_auth(&admin)
        .json(&disposal)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let r = chat("alice").await.unwrap();
    assert_eq!(r.status(), 403);
    let rid = r.headers()["x-hegui-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "account_suspended", "{v}");
    assert_eq!(v["error"]["type"], "permission_error", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("manual_review"),
        "{v}"
    );
    // Streaming is refused the same way, before any stream starts.
    let r = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&chat_body("alice", "你好", true, "hegui-demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "account_suspended"
    );
    // Another user of the same application is unaffected.
    assert_eq!(chat("bob").await.unwrap().status(), 200);

    // Both the decision and the refusal are on the audit record.
    let audit = |q: Vec<(&'static str, String)>| {
        let req = c.get(gw.url("/admin/audit")).query(&q).bearer_auth(&admin);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let v = audit(vec![("request_id", rid.clone())]).await;
    let rec = &v["data"][0];
    assert_eq!(rec["kind"], "request.chat", "{v}");
    assert_eq!(body_of(rec)["refused"], "account_suspended", "{v}");
    // Records carry a keyed hash of the user; the admin API finds them by (app, user).
    let v = audit(vec![
        ("app", app.clone()),
        ("user", "alice".into()),
        ("kind", "disposal".into()),
    ])
    .await;
    let set = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "disposal.set")
        .unwrap_or_else(|| panic!("{v}"));
    let body = body_of(set);
    assert_eq!(body["by"], "ops", "{set}");
    assert_eq!(body["details"]["level"], "suspended", "{set}");
    assert_eq!(body["details"]["reason"], "manual_review", "{set}");
}
