//! `broadside jobs`, `job`, `abort`, `workers`, `cluster`: the cluster's state over the REST
//! API of any master, as tables (or the API's JSON with `--json`).

use broadside_client::Client;
use clap::Args;
use serde_json::{json, Value};

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// Where the masters are, and the output form.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Masters' REST URLs (any of them; repeat or separate with commas).
    #[arg(
        long = "master",
        env = "BROADSIDE_MASTER",
        value_delimiter = ',',
        required = true
    )]
    pub masters: Vec<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `broadside jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Project.
    #[arg(long, default_value = "default")]
    pub project: String,
    /// Only jobs in this state (queued, waiting_for_workers, starting, running, completed,
    /// failed, aborted).
    #[arg(long)]
    pub state: Option<String>,
    /// Most jobs listed.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

/// Arguments of `broadside job` and `broadside abort`.
#[derive(Debug, Args)]
pub struct JobArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Job id.
    pub id: u64,
}

/// Arguments of `broadside workers` and `broadside cluster`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub api: ApiArgs,
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Prints rows as aligned columns under `headers`.
fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!(
        "{}",
        line(headers.iter().map(|h| h.to_uppercase()).collect())
    );
    for row in rows {
        println!("{}", line(row));
    }
}

async fn get(api: &ApiArgs, path: &str) -> Result<Value, u8> {
    Client::new(&api.masters).get_json(path).await.map_err(|e| {
        eprintln!("error: {e}");
        EXIT_BAD_INPUT
    })
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Prints the page at `path`: its JSON, or a table of `items` with one row per item.
async fn list(
    api: &ApiArgs,
    path: &str,
    headers: &[&str],
    row: impl Fn(&Value) -> Vec<String>,
) -> u8 {
    let page = match get(api, path).await {
        Ok(p) => p,
        Err(code) => return code,
    };
    if api.json {
        print_json(&page);
        return EXIT_OK;
    }
    let rows = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(row)
        .collect();
    table(headers, rows);
    EXIT_OK
}

/// `broadside jobs`.
pub async fn jobs(args: JobsArgs) -> u8 {
    let mut path = format!(
        "/api/v1/projects/{}/jobs?limit={}",
        args.project, args.limit
    );
    if let Some(s) = &args.state {
        path.push_str(&format!("&state={s}"));
    }
    list(
        &args.api,
        &path,
        &["id", "name", "state", "tasks", "pool", "reason"],
        |j| {
            vec![
                text(&j["id"]),
                text(&j["name"]),
                text(&j["state"]),
                format!("{}×{}", text(&j["parallelism"]), text(&j["mode"])),
                text(&j["pool"]),
                text(&j["reason"]),
            ]
        },
    )
    .await
}

/// `broadside job ID`.
pub async fn job(args: JobArgs) -> u8 {
    let job = match get(&args.api, &format!("/api/v1/jobs/{}", args.id)).await {
        Ok(j) => j,
        Err(code) => return code,
    };
    let tasks = match get(&args.api, &format!("/api/v1/jobs/{}/tasks", args.id)).await {
        Ok(t) => t,
        Err(code) => return code,
    };
    if args.api.json {
        print_json(&json!({ "job": job, "tasks": tasks["items"] }));
        return EXIT_OK;
    }
    println!(
        "job {} {} — {} ({}×{}, pool {})",
        text(&job["id"]),
        text(&job["name"]),
        text(&job["state"]),
        text(&job["parallelism"]),
        text(&job["mode"]),
        text(&job["pool"])
    );
    for key in ["reason", "reassignment_paused"] {
        if job[key].as_str().is_some_and(|s| !s.is_empty()) {
            println!("{key}: {}", text(&job[key]));
        }
    }
    let rows = tasks["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            vec![
                text(&t["index"]),
                text(&t["state"]),
                text(&t["attempt"]),
                text(&t["worker_id"]),
                text(&t["deltas"]),
                text(&t["reason"]),
            ]
        })
        .collect();
    table(
        &["task", "state", "attempt", "worker", "deltas", "reason"],
        rows,
    );
    EXIT_OK
}

/// `broadside abort ID`.
pub async fn abort(args: JobArgs) -> u8 {
    let client = Client::new(&args.api.masters);
    let key = format!("abort-{}", args.id);
    match client
        .send_json::<Value>(
            "POST",
            &format!("/api/v1/jobs/{}/abort", args.id),
            &json!({ "reason": "aborted from the command line" }),
            Some(&key),
        )
        .await
    {
        Ok(job) => {
            println!("job {} {}", args.id, text(&job["state"]));
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_BAD_INPUT
        }
    }
}

/// `broadside workers`.
pub async fn workers(args: ListArgs) -> u8 {
    let headers = ["id", "state", "pool", "slots", "version", "heartbeat"];
    list(&args.api, "/api/v1/workers?limit=1000", &headers, |w| {
        vec![
            text(&w["id"]),
            text(&w["state"]),
            text(&w["pool"]),
            text(&w["slots"]),
            text(&w["version"]),
            w["last_heartbeat_age_ms"]
                .as_u64()
                .map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0)),
        ]
    })
    .await
}

/// `broadside cluster`.
pub async fn cluster(args: ListArgs) -> u8 {
    let view = match get(&args.api, "/api/v1/cluster").await {
        Ok(v) => v,
        Err(code) => return code,
    };
    if args.api.json {
        print_json(&view);
        return EXIT_OK;
    }
    println!("leader: {}", text(&view["leader"]));
    let rows = view["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            vec![
                text(&m["id"]),
                text(&m["status"]["role"]),
                text(&m["voter"]),
                text(&m["http_addr"]),
                text(&m["raft_addr"]),
                text(&m["status"]["term"]),
                text(&m["status"]["applied_index"]),
                text(&m["reachable"]),
            ]
        })
        .collect();
    table(
        &[
            "id",
            "role",
            "voter",
            "http",
            "raft",
            "term",
            "applied",
            "reachable",
        ],
        rows,
    );
    EXIT_OK
}
