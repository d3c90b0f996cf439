//! A private MariaDB that accepts only TLS (`require_secure_transport=ON`), with a throwaway CA
//! made by `openssl` at start: RDS as the functions meet it (TLS always; the server certificate
//! verifiable against a CA bundle). The server stops when the process that started it exits.
//! A test can crash it ([`TlsMariaDb::kill`]: `SIGKILL`, as a database host that dies) and start
//! it again on the same data directory, port and TLS configuration ([`TlsMariaDb::restart`]).

use crate::Error;
use sqlx::Connection;
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A certificate authority and a server certificate it signed (for 127.0.0.1 and localhost).
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
    /// The CA certificate: what `DB_CA_BUNDLE` points at.
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), Error> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("openssl not found ({e}): install it (apt-get install openssl)"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

impl Pki {
    /// A new CA (`<name>-ca.pem`) and, signed by it, a server certificate for 127.0.0.1.
    pub fn generate(dir: &Path, name: &str) -> Result<Pki, Error> {
        std::fs::create_dir_all(dir)?;
        let ca = format!("{name}-ca.pem");
        let ca_key = format!("{name}-ca.key");
        let cert = format!("{name}-server.pem");
        let key = format!("{name}-server.key");
        let csr = format!("{name}-server.csr");
        let ext = format!("{name}-server.ext");
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &ca_key,
                "-out",
                &ca,
                "-days",
                "3",
                "-subj",
                &format!("/CN={name} test CA"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        )?;
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                "/CN=127.0.0.1",
            ],
        )?;
        std::fs::write(
            dir.join(&ext),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )?;
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "3",
                "-extfile",
                &ext,
            ],
        )?;
        Ok(Pki {
            dir: dir.to_owned(),
            ca: dir.join(ca),
            server_cert: dir.join(cert),
            server_key: dir.join(key),
        })
    }
}

/// `mariadbd` and `mariadb-install-db` (or their MySQL names), from PATH, /usr/sbin or /usr/bin.
pub fn mariadb_binaries() -> Result<(PathBuf, PathBuf), Error> {
    let mariadbd = which("mariadbd").or_else(|| which("mysqld")).ok_or(
        "mariadbd not found: install MariaDB (Debian/Ubuntu: apt-get install mariadb-server)",
    )?;
    let install = which("mariadb-install-db")
        .or_else(|| which("mysql_install_db"))
        .ok_or("mariadb-install-db not found: install MariaDB (apt-get install mariadb-server)")?;
    Ok((mariadbd, install))
}

/// A new data directory at `data` whose root logs in with a password (empty), no test database.
pub fn install_datadir(install: &Path, data: &Path) -> Result<(), Error> {
    let out = Command::new(install)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args([
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--user=root",
        ])
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// A running TLS-only MariaDB.
#[derive(Debug, Clone)]
pub struct TlsMariaDb {
    pub host: String,
    pub port: u16,
    pub pki: Pki,
    pub dir: PathBuf,
    /// The process whose exit stops the server.
    owner_pid: u32,
}

impl TlsMariaDb {
    /// Starts one in `dir` (emptied first); stopped when `owner_pid` exits. A start that fails
    /// (e.g. the free port it picked was taken by another process meanwhile) is tried again, up
    /// to three times, each in a fresh directory on a fresh port; the last error is returned.
    pub fn start(dir: &Path, owner_pid: u32) -> Result<TlsMariaDb, Error> {
        let mut last = None;
        for attempt in 1..=3 {
            let _ = std::fs::remove_dir_all(dir);
            match Self::start_once(dir, owner_pid) {
                Ok(db) => return Ok(db),
                Err(e) => {
                    eprintln!("tlsdb: start attempt {attempt} failed: {e}");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| "TLS mariadbd did not start".into()))
    }

    fn start_once(dir: &Path, owner_pid: u32) -> Result<TlsMariaDb, Error> {
        let (_, install) = mariadb_binaries()?;
        std::fs::create_dir_all(dir)?;
        let pki = Pki::generate(&dir.join("pki"), "db")?;
        install_datadir(&install, &dir.join("data"))?;
        let db = TlsMariaDb {
            host: "127.0.0.1".into(),
            port: free_port()?,
            pki,
            dir: dir.to_owned(),
            owner_pid,
        };
        db.serve()?;
        Ok(db)
    }

    /// Runs `mariadbd` on this data directory and port, TLS only, under a watcher shell that
    /// writes its PID to `server.pid` and stops it when the owner exits; waits until it accepts
    /// connections.
    fn serve(&self) -> Result<(), Error> {
        let (mariadbd, _) = mariadb_binaries()?;
        let dir = &self.dir;
        let script = format!(
            "{bin} --no-defaults --datadir={data} --socket={dir}/mysqld.sock --port={port} \
             --bind-address=127.0.0.1 --user=root --skip-log-bin --max-connections=200 \
             --innodb-buffer-pool-size=64M --ssl-ca={ca} --ssl-cert={cert} --ssl-key={key} \
             --require-secure-transport=ON --log-error={dir}/error.log --pid-file={dir}/mysqld.pid & \
             db=$!; echo $db > {dir}/server.pid; \
             while kill -0 {owner} 2>/dev/null && kill -0 $db 2>/dev/null; do sleep 1; done; \
             kill $db 2>/dev/null; wait $db",
            bin = mariadbd.display(),
            data = dir.join("data").display(),
            dir = dir.display(),
            port = self.port,
            ca = self.pki.ca.display(),
            cert = self.pki.server_cert.display(),
            key = self.pki.server_key.display(),
            owner = self.owner_pid,
        );
        let _ = std::fs::remove_file(dir.join("server.pid"));
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        std::thread::spawn(move || {
            let mut child = child;
            let _ = child.wait();
        });
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "TLS mariadbd did not start; see {}/error.log",
                    dir.display()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The running server's PID (its watcher wrote it at start).
    fn pid(&self) -> Result<u32, Error> {
        let file = self.dir.join("server.pid");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("{}: {e} (is the server running?)", file.display()))?;
        Ok(text
            .trim()
            .parse()
            .map_err(|e| format!("{}: {e}", file.display()))?)
    }

    /// Crashes the server: `SIGKILL` to its own PID (transactions in flight are lost, InnoDB
    /// recovers at the next start; clients see their connections reset). Returns once the
    /// process runs no more (gone, or a zombie its watcher has yet to reap).
    pub fn kill(&self) -> Result<(), Error> {
        let pid = self.pid()?;
        let sent = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(Stdio::null())
            .status()?
            .success();
        if !sent {
            return Err(format!("mariadbd {pid} is not running").into());
        }
        let stat = PathBuf::from(format!("/proc/{pid}/stat"));
        let started = Instant::now();
        // `/proc/PID/stat` is "PID (comm) STATE ...": Z once it has exited.
        while let Ok(s) = std::fs::read_to_string(&stat) {
            if s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
                == Some(true)
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err(format!("mariadbd {pid} still runs 10 s after SIGKILL").into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Starts the server again after [`kill`](Self::kill): same data directory, port and TLS
    /// configuration; returns once it accepts connections (InnoDB's crash recovery done).
    pub fn restart(&self) -> Result<(), Error> {
        self.serve()
    }

    /// Root over TLS, verified against the server's CA.
    pub fn root_options(&self) -> MySqlConnectOptions {
        MySqlConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username("root")
            .ssl_mode(MySqlSslMode::VerifyIdentity)
            .ssl_ca(&self.pki.ca)
    }

    /// Creates `database` and a user with every privilege (as RDS's master user), over TLS.
    pub async fn create_master(
        &self,
        database: &str,
        user: &str,
        password: &str,
    ) -> Result<(), Error> {
        // Identifiers and the password cannot be bound as parameters in these statements:
        // they are checked to be plain (the template's own AllowedPattern, generated values).
        for (what, v) in [
            ("database", database),
            ("user", user),
            ("password", password),
        ] {
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(
                    format!("{what} {v:?}: only letters, digits and _ are accepted").into(),
                );
            }
        }
        let mut conn = sqlx::MySqlConnection::connect_with(&self.root_options()).await?;
        for stmt in [
            format!("CREATE DATABASE IF NOT EXISTS `{database}`"),
            format!("CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}'"),
            format!("GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%' WITH GRANT OPTION"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(stmt))
                .execute(&mut conn)
                .await?;
        }
        Ok(())
    }
}

pub fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
