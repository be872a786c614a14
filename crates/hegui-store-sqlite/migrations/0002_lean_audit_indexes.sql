-- Every index on the audit table is one more page written per appended record, on the path of
-- every request. Lookups that matter at request or export time keep theirs (request id,
-- subject); the daily purge (by time), admin filters by application and by kind scan instead.
DROP INDEX IF EXISTS audit_by_at;
DROP INDEX IF EXISTS audit_by_app;
DROP INDEX IF EXISTS audit_by_kind;
