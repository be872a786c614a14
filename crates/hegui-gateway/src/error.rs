//! `ApiError`: every refusal in OpenAI's error envelope, from one table of stable codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

macro_rules! error_codes {
    ($($variant:ident => ($status:ident, $type:literal, $code:literal)),* $(,)?) => {
        /// Stable error codes: what a client may branch on.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $code, "` (", $type, ")")]
                $variant,
            )*
        }

        impl ErrorCode {
            /// HTTP status.
            pub fn status(self) -> StatusCode {
                match self { $(Self::$variant => StatusCode::$status,)* }
            }
            /// OpenAI `error.type`.
            pub fn kind(self) -> &'static str {
                match self { $(Self::$variant => $type,)* }
            }
            /// OpenAI `error.code`.
            pub fn code(self) -> &'static str {
                match self { $(Self::$variant => $code,)* }
            }
        }
    };
}

error_codes! {
    InvalidJson => (BAD_REQUEST, "invalid_request_error", "invalid_json"),
    InvalidRequest => (BAD_REQUEST, "invalid_request_error", "invalid_request"),
    MissingUser => (BAD_REQUEST, "invalid_request_error", "missing_user"),
    BodyTooLarge => (PAYLOAD_TOO_LARGE, "invalid_request_error", "body_too_large"),
    UnsupportedMediaType => (UNSUPPORTED_MEDIA_TYPE, "invalid_request_error", "unsupported_media_type"),
    Unauthorized => (UNAUTHORIZED, "authentication_error", "invalid_api_key"),
    Forbidden => (FORBIDDEN, "permission_error", "forbidden"),
    ModelNotFound => (NOT_FOUND, "invalid_request_error", "model_not_found"),
    NotFound => (NOT_FOUND, "invalid_request_error", "not_found"),
    ContentFilter => (BAD_REQUEST, "content_filter", "content_filter"),
    VerificationRequired => (FORBIDDEN, "permission_error", "verification_required"),
    VerificationFailed => (BAD_REQUEST, "invalid_request_error", "verification_failed"),
    AccountWarning => (FORBIDDEN, "permission_error", "account_warning"),
    FunctionRestricted => (FORBIDDEN, "permission_error", "function_restricted"),
    AccountSuspended => (FORBIDDEN, "permission_error", "account_suspended"),
    AccountClosed => (FORBIDDEN, "permission_error", "account_closed"),
    Conflict => (CONFLICT, "invalid_request_error", "conflict"),
    GuardianConsentRequired => (FORBIDDEN, "permission_error", "guardian_consent_required"),
    IntimateCharacterForMinor => (FORBIDDEN, "permission_error", "intimate_character_for_minor"),
    CharacterBlocked => (FORBIDDEN, "permission_error", "character_blocked"),
    DailyLimitReached => (FORBIDDEN, "permission_error", "daily_limit_reached"),
    QuietHours => (FORBIDDEN, "permission_error", "quiet_hours"),
    SpendingLimit => (FORBIDDEN, "permission_error", "spending_limit"),
    ServiceDiscontinued => (GONE, "permission_error", "service_discontinued"),
    RateLimited => (TOO_MANY_REQUESTS, "requests", "rate_limit_exceeded"),
    UpstreamError => (BAD_GATEWAY, "api_error", "upstream_error"),
    UpstreamTimeout => (GATEWAY_TIMEOUT, "api_error", "upstream_timeout"),
    StoreUnavailable => (SERVICE_UNAVAILABLE, "api_error", "store_unavailable"),
    Internal => (INTERNAL_SERVER_ERROR, "api_error", "internal_error"),
}

/// A refusal or failure, rendered as `{"error":{"message","type","param","code"}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The stable code.
    pub code: ErrorCode,
    /// Human-readable reason; never internals (those go to the log).
    pub message: String,
    /// The offending parameter, if one.
    pub param: Option<String>,
    /// Overrides the status of the code (an upstream 4xx passed through honestly).
    pub status: Option<StatusCode>,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            param: None,
            status: None,
        }
    }

    /// Names the offending parameter.
    pub fn param(mut self, p: impl Into<String>) -> Self {
        self.param = Some(p.into());
        self
    }

    /// The JSON envelope.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.code.kind(),
                "param": self.param,
                "code": self.code.code(),
            }
        })
    }

    /// The store failed: refuse (fail closed) and log the cause.
    pub fn store(e: hegui_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        Self::new(
            ErrorCode::StoreUnavailable,
            "the gateway cannot reach its database; the request was not processed",
        )
    }
}

impl From<hegui_store::StoreError> for ApiError {
    fn from(e: hegui_store::StoreError) -> Self {
        Self::store(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or(self.code.status());
        let mut resp = (status, axum::Json(self.body())).into_response();
        let decision = if self.code == ErrorCode::ContentFilter {
            "block"
        } else {
            "error"
        };
        resp.headers_mut().insert(
            crate::DECISION_HEADER,
            axum::http::HeaderValue::from_static(decision),
        );
        resp
    }
}
