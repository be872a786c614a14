//! hegui-identity (in progress).
