//! Test and benchmark fixtures for hegui's gateway.
//!
//! * [`FakeUpstream`]: a faithful OpenAI-compatible model server on 127.0.0.1 (chat completions
//!   streamed and not, models, image generation with real PNGs, speech with real WAVs), the edge
//!   the gateway does not own. The last user message scripts it, so any client can drive it:
//!
//!   | directive | effect |
//!   | --- | --- |
//!   | `[[chunks:A\|B\|C]]` | the reply is exactly these content deltas, in order |
//!   | `[[reply:TEXT]]` | reply `TEXT` (split into [`FakeOptions::chunks`] deltas when streaming) |
//!   | `[[echo]]` | reply with the last user message, verbatim |
//!   | `[[delay_ms:N]]` | wait N ms before each content delta (a non-stream reply waits the total) |
//!   | `[[status:N]]` | answer HTTP N with OpenAI's error envelope |
//!   | `[[hang]]` | never answer (for timeout tests) |
//!
//!   Otherwise the reply is [`FakeOptions::default_reply`]. Image prompts and speech inputs honour
//!   `status`, `hang` and `delay_ms` too.
//! * [`python::openai_python`]: a Python interpreter with the official `openai` package.
//! * The `fake-upstream` binary serves a [`FakeUpstream`] for benchmarks and demos.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let upstream = hegui_testkit::FakeUpstream::start().await?;
//! println!("point the client at {}", upstream.base_url());
//! # Ok(()) }
//! ```

mod media;
pub mod python;
mod script;
mod upstream;

pub use upstream::{DEFAULT_REPLY, FakeOptions, FakeUpstream, MAX_RECORDED, RecordedRequest};
