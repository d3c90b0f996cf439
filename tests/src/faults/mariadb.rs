//! A private `mariadbd` a test can crash, stop and restart.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

fn answers(addr: &str) -> bool {
    addr.parse()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(300)).ok())
        .is_some()
}

/// A private `mariadbd` that a test can crash, stop and restart (same data dir, same port).
/// Dropping it kills the server and removes its directory; a watchdog shell kills it if the
/// test process dies first.
pub struct Mariadb {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    server: Mutex<Option<Child>>,
    watchdogs: Mutex<Vec<Child>>,
}

impl Mariadb {
    /// Initialises a data dir and starts the server. Panics (with how to install MariaDB) if
    /// the binaries are missing: never a silent skip.
    pub fn start_new() -> Mariadb {
        let bin = which("mariadbd").or_else(|| which("mysqld")).expect(
            "mariadbd not found: install MariaDB (Debian/Ubuntu: apt-get install mariadb-server)",
        );
        let install = which("mariadb-install-db")
            .or_else(|| which("mysql_install_db"))
            .expect("mariadb-install-db not found (apt-get install mariadb-server)");
        let dir = std::env::temp_dir().join(format!(
            "donut-faults-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("mariadb dir");
        // One initialisation at a time in this process (the fault cases that start their own
        // server run in parallel; concurrent mariadb-install-db runs were seen to fail on a
        // loaded machine).
        static INSTALL: Mutex<()> = Mutex::new(());
        let _one = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
        let status = Command::new(&install)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run mariadb-install-db");
        assert!(
            status.status.success(),
            "mariadb-install-db failed: {}\n{}",
            String::from_utf8_lossy(&status.stdout),
            String::from_utf8_lossy(&status.stderr)
        );
        let db = Mariadb {
            bin,
            dir,
            port: crate::free_port(),
            server: Mutex::new(None),
            watchdogs: Mutex::new(Vec::new()),
        };
        db.start();
        db
    }

    /// `mysql://root@127.0.0.1:<port>` (no database part).
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    pub fn is_running(&self) -> bool {
        let mut guard = self.server.lock().expect("server lock");
        match guard.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts the server on the existing data dir and waits until it accepts connections.
    pub fn start(&self) {
        assert!(!self.is_running(), "already running");
        let d = &self.dir;
        let child = Command::new(&self.bin)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--socket={}", d.join("mysqld.sock").display()))
            .arg(format!("--port={}", self.port))
            .args([
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-log-bin",
                "--max-connections=300",
                "--innodb-buffer-pool-size=64M",
                "--innodb-flush-log-at-trx-commit=1",
            ])
            .arg(format!("--log-error={}", d.join("error.log").display()))
            .arg(format!("--pid-file={}", d.join("mysqld.pid").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mariadbd");
        let pid = child.id();
        // The watchdog: kills this server once the test process is gone; ends with the server.
        let script = format!(
            "while kill -0 {parent} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             kill -9 {pid} 2>/dev/null",
            parent = std::process::id()
        );
        if let Ok(w) = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            self.watchdogs.lock().expect("watchdogs").push(w);
        }
        *self.server.lock().expect("server lock") = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        let started = Instant::now();
        while !answers(&addr) {
            assert!(
                self.is_running(),
                "mariadbd exited at start; see {}",
                self.dir.join("error.log").display()
            );
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "mariadbd did not start; see {}",
                self.dir.join("error.log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Crashes the server (`SIGKILL`): in-flight transactions are lost, InnoDB recovers them
    /// at the next start.
    pub fn kill(&self) {
        if let Some(mut c) = self.server.lock().expect("server lock").take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the server cleanly (`SIGTERM`, then `SIGKILL` after 30 s).
    pub fn stop(&self) {
        if let Some(mut c) = self.server.lock().expect("server lock").take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let started = Instant::now();
            while matches!(c.try_wait(), Ok(None)) {
                if started.elapsed() > Duration::from_secs(30) {
                    let _ = c.kill();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.wait();
        }
    }

    /// Creates a fresh database; returns its URL.
    pub async fn fresh_database(&self) -> String {
        use sqlx::Connection;
        let name = format!("donut_f_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::MySqlConnection::connect(&format!("{}/mysql", self.url()))
            .await
            .expect("connect to the fault-test mariadbd");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        format!("{}/{name}", self.url())
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        self.kill();
        if let Ok(mut w) = self.watchdogs.lock() {
            for c in w.iter_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
