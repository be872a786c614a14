-- Companion duties (AIAI, DVH-10, DVH-18): session state, profiles, characters, the webhook
-- outbox and incidents for human follow-up. Times are Unix milliseconds (INTEGER).

-- One user's companion-session state: the engine's JSON plus the two columns the AIAI-9 usage
-- distribution reads.
CREATE TABLE sessions (
    app            TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    state          TEXT NOT NULL,
    day            INTEGER NOT NULL,
    used_today_ms  INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (app, user_id)
);
CREATE INDEX sessions_by_day ON sessions (app, day);

-- CompanionProfile as JSON; age band and guardian copied out for the statistics and wards.
CREATE TABLE profiles (
    app         TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    body        TEXT NOT NULL,
    age_band    TEXT NOT NULL,
    guardian    TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (app, user_id)
);
CREATE INDEX profiles_by_guardian ON profiles (app, guardian);
CREATE INDEX profiles_by_age_band ON profiles (app, age_band);

-- Character as JSON.
CREATE TABLE characters (
    app         TEXT NOT NULL,
    id          TEXT NOT NULL,
    body        TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (app, id)
);

-- Webhook calls persisted before the request that caused them is answered.
CREATE TABLE outbox (
    id               TEXT PRIMARY KEY NOT NULL,
    app              TEXT NOT NULL,
    user_id          TEXT,
    kind             TEXT NOT NULL,
    url              TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    -- Not before this time; also the lease end while a worker delivers it.
    next_attempt_at  INTEGER NOT NULL,
    attempts         INTEGER NOT NULL,
    status           TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_app ON outbox (app, created_at);
CREATE INDEX outbox_by_user ON outbox (app, user_id);

CREATE TABLE outbox_attempts (
    item         TEXT NOT NULL,
    n            INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    status       INTEGER,
    error        TEXT,
    duration_ms  INTEGER NOT NULL,
    PRIMARY KEY (item, n)
);

-- Cases for human follow-up; kept when a user's data is deleted (user_id cleared).
CREATE TABLE incidents (
    id          TEXT PRIMARY KEY NOT NULL,
    app         TEXT NOT NULL,
    user_id     TEXT,
    subject     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    signal      TEXT NOT NULL,
    request_id  TEXT,
    opened_at   INTEGER NOT NULL,
    status      TEXT NOT NULL,
    note        TEXT,
    handled_by  TEXT,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX incidents_by_app ON incidents (app, opened_at);
CREATE INDEX incidents_by_status ON incidents (status);
CREATE INDEX incidents_by_user ON incidents (app, user_id);
