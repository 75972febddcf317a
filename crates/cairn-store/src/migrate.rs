//! Versioned schema migrations. Each entry runs once, in order, inside one transaction with the
//! bump of `schema_version`; never edit a shipped migration, add the next one.

use crate::{Result, StoreError};
use duckdb::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
    CREATE TABLE dataset_versions (
        name VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        hash VARCHAR NOT NULL,
        rows BIGINT NOT NULL,
        columns_json VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        table_name VARCHAR NOT NULL,
        parent_version INTEGER,
        created_at VARCHAR NOT NULL,
        PRIMARY KEY (name, version)
    );
    CREATE TABLE runs (
        id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        dataset VARCHAR NOT NULL,
        dataset_hash VARCHAR NOT NULL,
        target VARCHAR NOT NULL,
        seed UBIGINT NOT NULL,
        params_json VARCHAR NOT NULL,
        tags_json VARCHAR NOT NULL,
        environment_json VARCHAR NOT NULL,
        pid BIGINT,
        created_at VARCHAR NOT NULL,
        finished_at VARCHAR,
        error VARCHAR,
        seq BIGINT NOT NULL
    );
    CREATE TABLE run_params (
        run_id VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        num DOUBLE,
        text VARCHAR,
        value_json VARCHAR NOT NULL
    );
    CREATE TABLE run_tags (run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR NOT NULL);
    CREATE TABLE metrics (
        run_id VARCHAR NOT NULL,
        key VARCHAR NOT NULL,
        step BIGINT NOT NULL,
        value DOUBLE NOT NULL
    );
    CREATE TABLE artifacts (
        run_id VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        size BIGINT NOT NULL
    );
    INSERT INTO meta VALUES ('change_seq', '0');
    "#,
    // 2: import options, tombstones, profiles, lineage, quality reports.
    r#"
    ALTER TABLE dataset_versions ADD COLUMN options_json VARCHAR;
    ALTER TABLE dataset_versions ADD COLUMN deleted_at VARCHAR;
    CREATE TABLE dataset_profiles (table_name VARCHAR PRIMARY KEY, profile_json VARCHAR NOT NULL);
    CREATE TABLE dataset_lineage (
        child_name VARCHAR NOT NULL,
        child_version INTEGER NOT NULL,
        parent_name VARCHAR NOT NULL,
        parent_version INTEGER NOT NULL,
        kind VARCHAR NOT NULL,
        details_json VARCHAR NOT NULL
    );
    CREATE TABLE quality_reports (
        name VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        report_json VARCHAR NOT NULL,
        created_at VARCHAR NOT NULL
    );
    "#,
    // 3: recording runs from anywhere (issue 5): a markdown note, the parent run, where the run
    // was recorded from ('train', 'log', 'api'), and its owner process's start time and last
    // heartbeat, so a run whose process died is told from one whose process is alive.
    // (DuckDB cannot add a column with a NOT NULL constraint; `note` is read with coalesce.)
    r#"
    ALTER TABLE runs ADD COLUMN note VARCHAR DEFAULT '';
    ALTER TABLE runs ADD COLUMN parent_id VARCHAR;
    ALTER TABLE runs ADD COLUMN source VARCHAR;
    ALTER TABLE runs ADD COLUMN pid_started VARCHAR;
    ALTER TABLE runs ADD COLUMN heartbeat_at VARCHAR;
    "#,
    // 4: each metric point's own time (epoch milliseconds: when it was logged, or the time the
    // client gave); points recorded before have none (NULL) and take their run's start.
    r#"
    ALTER TABLE metrics ADD COLUMN logged_at BIGINT;
    "#,
    // 5: the model registry and the audit log (issue 16). The audit log is appended to in the
    // transaction of each change and never updated; alias moves, gate reports and approvals
    // are history, also only appended to. `evidence` holds what later gates read (evaluations,
    // drift reports, load tests, reproductions) per model version.
    r#"
    CREATE TABLE audit_log (
        seq BIGINT PRIMARY KEY,
        ts VARCHAR NOT NULL,
        actor VARCHAR NOT NULL,
        key VARCHAR,
        action VARCHAR NOT NULL,
        subject VARCHAR NOT NULL,
        payload VARCHAR NOT NULL,
        prev VARCHAR NOT NULL,
        hash VARCHAR NOT NULL
    );
    CREATE TABLE audit_checkpoints (
        size BIGINT NOT NULL,
        head VARCHAR NOT NULL,
        created_at VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL,
        public_key VARCHAR NOT NULL,
        signature VARCHAR NOT NULL
    );
    CREATE TABLE registered_models (
        name VARCHAR NOT NULL,
        description VARCHAR,
        created_at VARCHAR NOT NULL
    );
    CREATE TABLE model_versions (
        name VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        run_id VARCHAR,
        bundle_sha256 VARCHAR NOT NULL,
        bundle_root VARCHAR NOT NULL,
        bundle_bytes BIGINT NOT NULL,
        data_hash VARCHAR,
        record_json VARCHAR NOT NULL,
        created_at VARCHAR NOT NULL,
        created_by VARCHAR NOT NULL,
        description VARCHAR,
        archived_at VARCHAR,
        archive_reason VARCHAR
    );
    CREATE TABLE model_version_tags (name VARCHAR NOT NULL, version INTEGER NOT NULL, key VARCHAR NOT NULL, value VARCHAR NOT NULL);
    CREATE TABLE model_aliases (name VARCHAR NOT NULL, alias VARCHAR NOT NULL, version INTEGER NOT NULL);
    CREATE TABLE alias_moves (
        name VARCHAR NOT NULL,
        alias VARCHAR NOT NULL,
        from_version INTEGER,
        to_version INTEGER,
        moved_at VARCHAR NOT NULL,
        actor VARCHAR NOT NULL,
        key VARCHAR,
        reason VARCHAR NOT NULL,
        forced BOOLEAN NOT NULL,
        gate_report_sha256 VARCHAR
    );
    CREATE TABLE gate_reports (
        sha256 VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        alias VARCHAR NOT NULL,
        report_json VARCHAR NOT NULL,
        created_at VARCHAR NOT NULL
    );
    CREATE TABLE approvals (
        name VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        alias VARCHAR NOT NULL,
        gate_report_sha256 VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL,
        approval_json VARCHAR NOT NULL,
        created_at VARCHAR NOT NULL
    );
    CREATE TABLE policies (scope VARCHAR NOT NULL, text VARCHAR NOT NULL, created_at VARCHAR NOT NULL);
    CREATE TABLE evidence (
        name VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        kind VARCHAR NOT NULL,
        payload_json VARCHAR NOT NULL,
        created_at VARCHAR NOT NULL
    );
    "#,
    // 6: the request log of `cairn serve` (docs/serving.md), appended in batches.
    r#"
    CREATE TABLE serve_requests (
        server VARCHAR NOT NULL,
        ts VARCHAR NOT NULL,
        request_id VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        arm VARCHAR NOT NULL,
        route VARCHAR NOT NULL,
        shadow BOOLEAN NOT NULL,
        status INTEGER NOT NULL,
        latency_us BIGINT NOT NULL,
        outcome VARCHAR NOT NULL,
        problems_json VARCHAR NOT NULL,
        rows INTEGER NOT NULL,
        inputs_json VARCHAR,
        inputs_sha256 VARCHAR NOT NULL,
        prediction_json VARCHAR
    );
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub(crate) fn current_version(conn: &Connection) -> Result<u32> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at VARCHAR NOT NULL)")
        .map_err(|e| StoreError::db("creating schema_migrations", e))?;
    conn.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|v| v as u32)
    .map_err(|e| StoreError::db("reading the schema version", e))
}

pub(crate) fn migrate(conn: &Connection) -> Result<()> {
    let found = current_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i as u32 + 1;
        let batch = format!(
            "BEGIN TRANSACTION; {sql}; INSERT INTO schema_migrations VALUES ({version}, '{}'); COMMIT;",
            cairn_core::now_rfc3339()
        );
        if let Err(e) = conn.execute_batch(&batch) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(StoreError::db(
                format!("applying schema migration {version}"),
                e,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.duckdb");
        {
            let conn = Connection::open(&path).unwrap();
            migrate(&conn).unwrap();
            assert_eq!(current_version(&conn).unwrap(), SCHEMA_VERSION);
        }
        let conn = Connection::open(&path).unwrap();
        migrate(&conn).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n as u32, SCHEMA_VERSION);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        conn.execute_batch("INSERT INTO schema_migrations VALUES (999, 'x')")
            .unwrap();
        assert!(matches!(
            migrate(&conn),
            Err(StoreError::TooNew { found: 999, .. })
        ));
    }
}
