//! The request log of `cairn serve` (docs/serving.md, "Request log"): one row per answered
//! inference request, appended in batches, each batch in one turn; never updated.

use crate::{Result, Store, StoreError};
use duckdb::params;
use serde::{Deserialize, Serialize};

/// One logged request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRow {
    /// The server session that answered (one per `cairn serve`).
    pub server: String,
    pub ts: String,
    pub request_id: String,
    pub model: String,
    pub version: u32,
    pub arm: String,
    pub route: String,
    pub shadow: bool,
    pub status: u16,
    pub latency_us: u64,
    pub outcome: String,
    pub problems_json: String,
    pub rows: u32,
    pub inputs_json: Option<String>,
    pub inputs_sha256: String,
    pub prediction_json: Option<String>,
}

/// Which requests to read.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub model: Option<String>,
    pub server: Option<String>,
    /// RFC 3339 bounds on `ts`, inclusive.
    pub since: Option<String>,
    pub until: Option<String>,
    pub include_shadow: bool,
    /// The newest `limit` rows (in time order).
    pub limit: Option<usize>,
}

impl Store {
    /// Appends a batch in one transaction.
    pub fn append_requests(&self, rows: &[RequestRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let ctx = "appending to the request log";
        crate::transaction(&self.conn, |conn| {
            let mut app = conn
                .appender("serve_requests")
                .map_err(|e| StoreError::db(ctx, e))?;
            for r in rows {
                app.append_row(params![
                    r.server,
                    r.ts,
                    r.request_id,
                    r.model,
                    r.version,
                    r.arm,
                    r.route,
                    r.shadow,
                    r.status,
                    r.latency_us as i64,
                    r.outcome,
                    r.problems_json,
                    r.rows,
                    r.inputs_json,
                    r.inputs_sha256,
                    r.prediction_json
                ])
                .map_err(|e| StoreError::db(ctx, e))?;
            }
            app.flush().map_err(|e| StoreError::db(ctx, e))
        })
    }

    /// Logged requests in time order.
    pub fn requests(&self, f: &RequestFilter) -> Result<Vec<RequestRow>> {
        let mut sql = String::from(
            "SELECT server, ts, request_id, model, version, arm, route, shadow, status, latency_us, \
             outcome, problems_json, rows, inputs_json, inputs_sha256, prediction_json \
             FROM serve_requests WHERE 1 = 1",
        );
        let mut args: Vec<String> = Vec::new();
        for (col, v, op) in [
            ("model", &f.model, "="),
            ("server", &f.server, "="),
            ("ts", &f.since, ">="),
            ("ts", &f.until, "<="),
        ] {
            if let Some(v) = v {
                sql.push_str(&format!(" AND {col} {op} ?"));
                args.push(v.clone());
            }
        }
        if !f.include_shadow {
            sql.push_str(" AND NOT shadow");
        }
        sql.push_str(" ORDER BY ts DESC, rowid DESC");
        if let Some(n) = f.limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        let ctx = "reading the request log";
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| StoreError::db(ctx, e))?;
        let mut rows: Vec<RequestRow> = stmt
            .query_map(duckdb::params_from_iter(args.iter()), |r| {
                Ok(RequestRow {
                    server: r.get(0)?,
                    ts: r.get(1)?,
                    request_id: r.get(2)?,
                    model: r.get(3)?,
                    version: r.get(4)?,
                    arm: r.get(5)?,
                    route: r.get(6)?,
                    shadow: r.get(7)?,
                    status: r.get(8)?,
                    latency_us: r.get::<_, i64>(9)? as u64,
                    outcome: r.get(10)?,
                    problems_json: r.get(11)?,
                    rows: r.get(12)?,
                    inputs_json: r.get(13)?,
                    inputs_sha256: r.get(14)?,
                    prediction_json: r.get(15)?,
                })
            })
            .map_err(|e| StoreError::db(ctx, e))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| StoreError::db(ctx, e))?;
        rows.reverse();
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts: &str, model: &str, shadow: bool) -> RequestRow {
        RequestRow {
            server: "s1".into(),
            ts: ts.into(),
            request_id: "r".into(),
            model: model.into(),
            version: 1,
            arm: "production".into(),
            route: "kserve".into(),
            shadow,
            status: 200,
            latency_us: 120,
            outcome: "ok".into(),
            problems_json: "[]".into(),
            rows: 1,
            inputs_json: Some(r#"{"columns":["x"],"data":[[1]]}"#.into()),
            inputs_sha256: "00".into(),
            prediction_json: Some("[1]".into()),
        }
    }

    #[test]
    fn batches_append_and_read_back_by_window() {
        let s = Store::open_in_memory().unwrap();
        s.append_requests(&[
            row("2026-12-07T10:00:00.000Z", "iris", false),
            row("2026-12-07T10:00:01.000Z", "iris", true),
        ])
        .unwrap();
        s.append_requests(&[row("2026-12-07T10:00:02.000Z", "wine", false)])
            .unwrap();
        let all = s.requests(&RequestFilter::default()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], row("2026-12-07T10:00:00.000Z", "iris", false));
        let iris = s
            .requests(&RequestFilter {
                model: Some("iris".into()),
                include_shadow: true,
                ..RequestFilter::default()
            })
            .unwrap();
        assert_eq!(iris.len(), 2);
        let late = s
            .requests(&RequestFilter {
                since: Some("2026-12-07T10:00:01.500Z".into()),
                ..RequestFilter::default()
            })
            .unwrap();
        assert_eq!(
            late.iter().map(|r| r.model.as_str()).collect::<Vec<_>>(),
            ["wine"]
        );
        let last = s
            .requests(&RequestFilter {
                limit: Some(1),
                ..RequestFilter::default()
            })
            .unwrap();
        assert_eq!(last[0].model, "wine");
    }
}
