//! hegui-testkit (in progress).
