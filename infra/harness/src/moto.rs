//! A moto server from the project venv (`./scripts/setup-venv.sh` installs it), on a free
//! loopback port, stopped when the returned guard is dropped — or `MOTO_ENDPOINT` if set.

use crate::Error;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    pub endpoint: String,
    child: Option<Child>,
}

impl Moto {
    /// `endpoint`, else `MOTO_ENDPOINT`, else `<venv>/bin/moto_server` started on a free port.
    pub fn start(venv: &Path, endpoint: Option<String>) -> Result<Moto, Error> {
        if let Some(e) = endpoint.or_else(|| std::env::var("MOTO_ENDPOINT").ok()) {
            return Ok(Moto {
                endpoint: e,
                child: None,
            });
        }
        let bin = venv.join("bin/moto_server");
        if !bin.is_file() {
            return Err(format!(
                "no moto server at {}: run ./scripts/setup-venv.sh, or set MOTO_ENDPOINT",
                bin.display()
            )
            .into());
        }
        let port = crate::tlsdb::free_port()?;
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(60) {
                return Err("moto_server did not start within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
