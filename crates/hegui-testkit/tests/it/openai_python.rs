//! The official Python `openai` client against the fake: proof that the fake speaks the wire
//! format real clients parse (streaming, errors, images, speech, auth).

use hegui_testkit::{DEFAULT_REPLY, FakeOptions, FakeUpstream, python};
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_python_client_accepts_the_fake() {
    let open = FakeUpstream::start().await.unwrap();
    let keyed = FakeUpstream::start_with(FakeOptions {
        api_key: Some("sk-fake".into()),
        ..FakeOptions::default()
    })
    .await
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/check_fake.py");
    let args = vec![open.base_url(), keyed.base_url(), DEFAULT_REPLY.to_owned()];
    let (ok, stdout, stderr) =
        tokio::task::spawn_blocking(move || python::run_openai_script(&script, &args))
            .await
            .unwrap()
            .unwrap();
    assert!(ok, "python failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("checks passed"), "{stdout}");
    // The client really reached the fake: it recorded what the SDK sent.
    let bodies = open.requests();
    assert!(
        bodies
            .iter()
            .any(|b| b["stream_options"]["include_usage"] == true)
    );
    let auth = keyed
        .recorded()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_owned))
        .collect::<Vec<_>>();
    assert!(auth.contains(&"Bearer sk-fake".to_owned()), "{auth:?}");
    assert!(open.recorded().iter().all(|r| {
        r.header("user-agent")
            .is_some_and(|ua| ua.starts_with("OpenAI/Python"))
    }));
}
