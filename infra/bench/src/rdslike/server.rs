//! The RDS-like server: a private mariadbd with the binary log on and the fsync delay shim
//! preloaded, started and stopped by PID, and what it says about its configuration.

use super::connect;
use lambda_harness::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The shim's source, compiled with `cc` at bench time.
const SHIM_C: &str = include_str!("../../fsync-delay/fsync_delay.c");

/// What the server says about itself, and whether the shim is in it.
#[derive(Debug, Clone, Default)]
pub struct ServerFacts {
    pub version: String,
    pub log_bin: i64,
    pub sync_binlog: i64,
    pub flush_log_at_trx_commit: i64,
    pub flush_method: String,
    pub binlog_format: String,
    pub shim_mapped: bool,
    /// InnoDB memory-maps a redo log on /dev/shm and never fsyncs it: must be false.
    pub redo_mmapped: bool,
}

/// A private mariadbd with the binary log on and the fsync delay shim preloaded.
pub(super) struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

fn build_shim(dir: &Path) -> Result<PathBuf, Error> {
    let src = dir.join("fsync_delay.c");
    let lib = dir.join("libfsync_delay.so");
    std::fs::write(&src, SHIM_C)?;
    let out = Command::new("cc")
        .args(["-O2", "-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cc not found ({e}): install a C compiler (apt-get install gcc)"))?;
    if !out.status.success() {
        return Err(format!("cc fsync_delay.c: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(lib)
}

impl Server {
    /// In `parent`; not /dev/shm, where InnoDB would memory-map its redo log instead of
    /// fsyncing it.
    fn start(parent: &Path, fsync_us: u64) -> Result<Server, Error> {
        let dir = tempfile::Builder::new()
            .prefix("donut-rdslike-")
            .tempdir_in(parent)?;
        let d = dir.path();
        let shim = build_shim(d)?;
        std::fs::write(d.join("fsync-calls"), 0u64.to_ne_bytes())?;
        let (mariadbd, install) = lambda_harness::tlsdb::mariadb_binaries()?;
        lambda_harness::tlsdb::install_datadir(&install, &d.join("data"))?;
        let port = lambda_harness::tlsdb::free_port()?;
        let child = Command::new(&mariadbd)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--socket={}", d.join("mysqld.sock").display()))
            .arg(format!("--port={port}"))
            .args(["--bind-address=127.0.0.1", "--user=root"])
            // As the harness's server, but with RDS's durability settings when backups are on.
            .args(["--max-connections=600", "--innodb-buffer-pool-size=256M"])
            .arg(format!("--log-bin={}", d.join("binlog").display()))
            .args(["--server-id=1", "--binlog-format=ROW", "--sync-binlog=1"])
            .arg("--innodb-flush-log-at-trx-commit=1")
            // fsync after each write, for the redo log and the data files alike (the 10.11
            // default O_DIRECT is refused by tmpfs).
            .arg("--innodb-flush-method=fsync")
            .arg(format!("--log-error={}", d.join("error.log").display()))
            .arg(format!("--pid-file={}", d.join("mysqld.pid").display()))
            .env("LD_PRELOAD", &shim)
            .env("FSYNC_DELAY_US", fsync_us.to_string())
            .env("FSYNC_DELAY_COUNTER", d.join("fsync-calls"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start {}: {e}", mariadbd.display()))?;
        let pid = child.id();
        // Stops the server (and removes its directory) once this process is gone, should it
        // exit without `stop` (a panic, `process::exit`).
        let watchdog = format!(
            "while kill -0 {owner} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             kill {pid} 2>/dev/null; sleep 5; rm -rf {dir}",
            owner = std::process::id(),
            dir = d.display(),
        );
        Command::new("sh")
            .args(["-c", &watchdog])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(|mut w| {
                std::thread::spawn(move || {
                    let _ = w.wait();
                })
            })?;
        let mut server = Server { child, port, dir };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = server.child.try_wait()?.is_some();
            if exited || started.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(server.dir.path().join("error.log"))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                server.stop();
                return Err(format!(
                    "RDS-like mariadbd did not start; its error log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(super) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub(super) fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// fsync/fdatasync calls so far, as the shim counts them.
    pub(super) fn syncs(&self) -> Option<u64> {
        let b = std::fs::read(self.dir.path().join("fsync-calls")).ok()?;
        Some(u64::from_ne_bytes(b.get(..8)?.try_into().ok()?))
    }

    /// SIGTERM to our server's PID, a clean shutdown for up to 60 s, then SIGKILL.
    pub(super) fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
                // SAFETY: kill(2) on the PID of a child we spawned and have not reaped.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            let t0 = Instant::now();
            while matches!(self.child.try_wait(), Ok(None)) {
                if t0.elapsed() > Duration::from_secs(60) {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(super) async fn facts(server: &Server) -> Result<ServerFacts, Error> {
    let mut c = connect(&server.url()).await?;
    let (version, log_bin, sync_binlog, flush, method, format): (
        String,
        i64,
        i64,
        i64,
        String,
        String,
    ) = sqlx::query_as(
        "SELECT VERSION(), CAST(@@log_bin AS SIGNED), CAST(@@sync_binlog AS SIGNED), \
         CAST(@@innodb_flush_log_at_trx_commit AS SIGNED), @@innodb_flush_method, @@binlog_format",
    )
    .fetch_one(&mut c)
    .await?;
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", server.pid())).unwrap_or_default();
    Ok(ServerFacts {
        version,
        log_bin,
        sync_binlog,
        flush_log_at_trx_commit: flush,
        flush_method: method,
        binlog_format: format,
        shim_mapped: maps.contains("libfsync_delay.so"),
        redo_mmapped: std::fs::read_to_string(server.dir.path().join("error.log"))
            .unwrap_or_default()
            .contains("(memory-mapped)"),
    })
}

/// Up to three attempts, as the harness's TLS server: `mariadb-install-db` shares the temp dir
/// with other servers being set up on the machine and fails now and then.
pub(super) async fn start(parent: &Path, fsync_us: u64) -> Result<Server, Error> {
    let mut last = None;
    for attempt in 1..=3 {
        let parent = parent.to_owned();
        match tokio::task::spawn_blocking(move || Server::start(&parent, fsync_us)).await? {
            Ok(server) => return Ok(server),
            Err(e) => {
                eprintln!("bench: RDS-like mariadbd, start attempt {attempt} failed: {e}");
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| "RDS-like mariadbd did not start".into()))
}

pub(super) async fn stop(mut server: Server) {
    let _ = tokio::task::spawn_blocking(move || server.stop()).await;
}
