//! hegui-gateway (in progress).
