-- hegui-store-postgres schema, version 1. Migrations are append-only: never edit a shipped file,
-- add the next number instead. Times are Unix milliseconds (BIGINT).

CREATE TABLE apps (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    -- AppSettings as JSON, so new settings need no migration.
    settings    TEXT NOT NULL
);

CREATE TABLE users (
    app                  TEXT NOT NULL,
    id                   TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    last_seen            BIGINT NOT NULL,
    -- Real-name verification evidence (never the identity itself); NULL method = not verified.
    verify_method        TEXT,
    verified_at          BIGINT,
    verify_subject_hmac  TEXT,
    verify_masked        TEXT,
    verify_birth_date    TEXT,
    verify_provider_ref  TEXT,
    disposal_level       TEXT NOT NULL DEFAULT 'none',
    disposal_reason      TEXT,
    disposal_until       BIGINT,
    disposal_by          TEXT,
    disposal_at          BIGINT,
    violations           BIGINT NOT NULL DEFAULT 0,
    last_violation_at    BIGINT,
    PRIMARY KEY (app, id)
);
CREATE INDEX users_by_created ON users (app, created_at, id);
CREATE INDEX users_by_last_seen ON users (app, last_seen);
CREATE INDEX users_by_subject ON users (verify_subject_hmac);

CREATE TABLE challenges (
    app           TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    code_hmac     TEXT NOT NULL,
    issued_at     BIGINT NOT NULL,
    subject_hmac  TEXT NOT NULL,
    masked        TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    attempts      BIGINT NOT NULL,
    PRIMARY KEY (app, user_id)
);

CREATE TABLE messages (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app         TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    role        TEXT NOT NULL,
    -- Sealer::seal output (nonce ‖ ciphertext+tag); never plaintext.
    content     BYTEA NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX messages_by_user ON messages (app, user_id, at, id);

CREATE TABLE audit (
    seq         BIGINT PRIMARY KEY NOT NULL,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    app         TEXT,
    subject     TEXT,
    request_id  TEXT,
    body        TEXT NOT NULL,
    prev        TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_by_at ON audit (at);
CREATE INDEX audit_by_app ON audit (app, seq);
CREATE INDEX audit_by_subject ON audit (subject, seq);
CREATE INDEX audit_by_request ON audit (request_id);
CREATE INDEX audit_by_kind ON audit (kind, seq);

-- The chain head, kept apart from the records so a cut tail is detected. One row, always
-- present (appends lock it with SELECT … FOR UPDATE, which needs a row even for an empty
-- chain); seq = -1 means the chain is empty.
CREATE TABLE audit_head (
    id    SMALLINT PRIMARY KEY NOT NULL CHECK (id = 0),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (0, -1, '');
