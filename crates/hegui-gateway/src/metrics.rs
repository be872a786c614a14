//! `/metrics` in the Prometheus text format: requests, decisions, latency histograms, and
//! registered and monthly active users per application (AIAI-9).
//!
//! Hand-rolled because the gateway needs four metric families; the format is a few lines of text.

use crate::state::Gateway;
use axum::extract::State;
use axum::response::IntoResponse;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    decisions: BTreeMap<(&'static str, &'static str), u64>,
    latency: BTreeMap<String, Histogram>,
    incidents: BTreeMap<String, u64>,
    outbox: BTreeMap<&'static str, u64>,
}

/// In-process counters (per gateway process; Prometheus sums across processes).
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        match self.inner.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Counts one finished request.
    pub fn observe_request(&self, path: &str, status: u16, took: Duration) {
        // Only known routes become labels, so random paths cannot grow the table.
        let route = match path {
            "/v1/chat/completions"
            | "/v1/images/generations"
            | "/v1/audio/speech"
            | "/v1/models" => path,
            p if p.starts_with("/v1/hegui/") => "/v1/hegui",
            p if p.starts_with("/admin/") => "/admin",
            _ => "other",
        };
        let secs = took.as_secs_f64();
        self.with(|i| {
            *i.requests.entry((route.to_owned(), status)).or_default() += 1;
            let h = i.latency.entry(route.to_owned()).or_default();
            for (n, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.counts[n] += 1;
                }
            }
            h.count += 1;
            h.sum += secs;
        });
    }

    /// Counts one moderation decision (`stage` is `input` or `output`).
    pub fn observe_decision(&self, stage: &'static str, action: &'static str) {
        self.with(|i| *i.decisions.entry((stage, action)).or_default() += 1);
    }

    /// Counts one incident opened (AIAI-7(1), reported under AIAI-9).
    pub fn incident(&self, app: &str) {
        self.with(|i| *i.incidents.entry(app.to_owned()).or_default() += 1);
    }

    /// Counts one outbox delivery attempt by the item's resulting state.
    pub fn outbox(&self, status: &'static str) {
        self.with(|i| *i.outbox.entry(status).or_default() += 1);
    }

    fn render_counters(&self, out: &mut String) {
        use std::fmt::Write;
        self.with(|i| {
            out.push_str("# HELP hegui_incidents_opened_total Crisis and help incidents opened by this process.\n# TYPE hegui_incidents_opened_total counter\n");
            for (app, n) in &i.incidents {
                let _ = writeln!(out, "hegui_incidents_opened_total{{app=\"{app}\"}} {n}");
            }
            out.push_str("# HELP hegui_outbox_attempts_total Alert webhook attempts by resulting state.\n# TYPE hegui_outbox_attempts_total counter\n");
            for (st, n) in &i.outbox {
                let _ = writeln!(out, "hegui_outbox_attempts_total{{state=\"{st}\"}} {n}");
            }
            out.push_str("# HELP hegui_requests_total Requests by route and status.\n# TYPE hegui_requests_total counter\n");
            for ((route, status), n) in &i.requests {
                let _ = writeln!(out, "hegui_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
            }
            out.push_str("# HELP hegui_decisions_total Moderation decisions by stage and action.\n# TYPE hegui_decisions_total counter\n");
            for ((stage, action), n) in &i.decisions {
                let _ = writeln!(out, "hegui_decisions_total{{stage=\"{stage}\",action=\"{action}\"}} {n}");
            }
            out.push_str("# HELP hegui_request_duration_seconds Time to the response head (streams: to the first byte).\n# TYPE hegui_request_duration_seconds histogram\n");
            for (route, h) in &i.latency {
                for (n, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "hegui_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}",
                        h.counts[n]
                    );
                }
                let _ = writeln!(out, "hegui_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "hegui_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
                let _ = writeln!(out, "hegui_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
            }
        });
    }
}

/// `GET /metrics`.
pub async fn render(State(gw): State<Arc<Gateway>>) -> impl IntoResponse {
    use std::fmt::Write;
    let mut out = String::new();
    gw.metrics.render_counters(&mut out);
    // User counts come from the store, so every process reports the service-wide figure.
    let month_ago = gw.now() - 30 * 86_400_000;
    out.push_str("# HELP hegui_registered_users Registered end users per application.\n# TYPE hegui_registered_users gauge\n");
    let mut active = String::from(
        "# HELP hegui_monthly_active_users End users seen in the last 30 days per application.\n# TYPE hegui_monthly_active_users gauge\n",
    );
    let mut companion = String::new();
    match gw.store.apps().await {
        Ok(apps) => {
            for app in apps {
                if let Ok(c) = gw.store.user_counts(&app.id, month_ago).await {
                    let _ = writeln!(out, "hegui_registered_users{{app=\"{}\"}} {}", app.id, c.registered);
                    let _ = writeln!(active, "hegui_monthly_active_users{{app=\"{}\"}} {}", app.id, c.active);
                }
                if crate::companion::is_companion(&app)
                    && let Ok(r) = crate::companion_api::aiai9_report(&gw, &app).await
                {
                    crate::companion_api::render_aiai9(&r, &mut companion);
                }
            }
            out.push_str(&active);
            out.push_str(&companion);
            out.push_str("# HELP hegui_store_up Whether the database answered.\n# TYPE hegui_store_up gauge\nhegui_store_up 1\n");
        }
        Err(_) => out.push_str("# HELP hegui_store_up Whether the database answered.\n# TYPE hegui_store_up gauge\nhegui_store_up 0\n"),
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
}
