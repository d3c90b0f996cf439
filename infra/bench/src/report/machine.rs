//! The machine the suite ran on, as the report's "Machine" section lists it.

use sqlx::Connection;
use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, Default)]
pub struct Machine {
    pub nproc: usize,
    pub mem_gib: u64,
    pub cpu: String,
    pub kernel: String,
    pub rustc: String,
    pub git: String,
    pub mariadb: String,
    pub date: String,
    pub load_start: String,
    pub load_end: String,
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn command(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Machine {
    pub fn probe(root: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_default();
        let git = match command("git", &["rev-parse", "--short", "HEAD"], root) {
            Some(head) => {
                let dirty =
                    command("git", &["status", "--porcelain"], root).is_some_and(|s| !s.is_empty());
                if dirty {
                    format!("{head} + uncommitted changes")
                } else {
                    head
                }
            }
            None => "unknown".into(),
        };
        Machine {
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            // As `free -g` shows it (GiB, rounded down).
            mem_gib: mem_kib / (1024 * 1024),
            cpu: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
                .unwrap_or_else(|| "unknown".into()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            rustc: command("rustc", &["--version"], root).unwrap_or_else(|| "unknown".into()),
            git,
            mariadb: "not used".into(),
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            load_start: loadavg(),
            load_end: String::new(),
        }
    }

    pub fn one_line(&self) -> String {
        format!(
            "{} CPU(s) ({}), {} GiB RAM, Linux {}, {}, git {}, load {}",
            self.nproc, self.cpu, self.mem_gib, self.kernel, self.rustc, self.git, self.load_start
        )
    }
}

pub async fn mariadb_version(server: &str) -> String {
    match sqlx::MySqlConnection::connect(&format!("{server}/mysql")).await {
        Ok(mut c) => sqlx::query_as::<_, (String,)>("SELECT VERSION()")
            .fetch_one(&mut c)
            .await
            .map(|(v,)| v)
            .unwrap_or_else(|e| format!("unknown ({e})")),
        Err(e) => format!("unknown ({e})"),
    }
}
