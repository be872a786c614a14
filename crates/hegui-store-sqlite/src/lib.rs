//! hegui-store-sqlite (in progress).
