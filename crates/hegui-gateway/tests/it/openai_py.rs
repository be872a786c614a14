//! The official Python `openai` package as the client (installed into a venv by the testkit).

use crate::support::TestGateway;
use hegui_store::{Disposal, DisposalLevel};
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ds_10_ds_9_gai_19_official_openai_client_against_the_gateway() {
    let t = TestGateway::start().await;
    // The suspended user exists before the client runs.
    t.gw.store
        .touch_user(&t.app_id, "suspended-user", t.gw.now())
        .await
        .unwrap();
    let d = Disposal {
        level: DisposalLevel::Suspended,
        reason: Some("manual_review".into()),
        ..Disposal::default()
    };
    t.gw.store
        .set_disposal(&t.app_id, "suspended-user", &d)
        .await
        .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/openai_client.py");
    let args = vec![format!("{}/v1", t.url), t.key.clone()];
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        hegui_testkit::python::run_openai_script(&script, &args)
    })
    .await
    .unwrap()
    .unwrap();
    assert!(ok, "python failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("checks passed"), "{stdout}");
    // The blocked stream is in the audit log as blocked after N flushed bytes.
    let blocked = t
        .audit()
        .await
        .into_iter()
        .filter(|r| r.kind == "decision.output")
        .map(|r| r.body_json())
        .find(|b| b["outcome"]["blocked"] == "output")
        .expect("blocked stream audited");
    assert!(blocked["outcome"]["flushed_bytes"].as_u64().unwrap() > 0);
}
