//! hegui-store-postgres (in progress).
