//! Configuration from environment variables, read once at init. Every function reads its
//! variables in its own `main.rs` through [`Env`], so the template cross-check can see them.

use crate::store::{CredentialSource, DynStore, PoolSettings, StoreError};
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
    #[error("could not read secret {arn}: {why}")]
    Secret { arn: String, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Typed access to the process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Env;

impl Env {
    pub fn optional(&self, name: &'static str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }
    pub fn parse_or<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
                name,
                why: format!("{v:?}: {e}"),
            }),
        }
    }
    pub fn millis_or(&self, name: &'static str, default_ms: u64) -> Result<Duration, ConfigError> {
        self.parse_or(name, default_ms).map(Duration::from_millis)
    }
}

/// Loads the shared AWS SDK configuration (region, credentials; `AWS_ENDPOINT_URL` for moto).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_from_env().await
}

async fn secret_string(sdk: &aws_config::SdkConfig, arn: &str) -> Result<String, ConfigError> {
    read_secret(&aws_sdk_secretsmanager::Client::new(sdk), arn).await
}

async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<String, ConfigError> {
    // Boxed: the SDK's request future is deep, and callers (migrate's custom resource
    // handler) nest this one in theirs, past the compiler's type-layout depth limit.
    let out = Box::pin(client.get_secret_value().secret_id(arn).send())
        .await
        .map_err(|e| ConfigError::Secret {
            arn: arn.to_owned(),
            why: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        })?;
    out.secret_string()
        .map(str::to_owned)
        .ok_or_else(|| ConfigError::Secret {
            arn: arn.to_owned(),
            why: "secret has no string value".into(),
        })
}

/// How the functions reach MySQL on AWS: always over TLS. With a CA bundle (`DB_CA_BUNDLE`, a
/// PEM file, e.g. the RDS global bundle shipped in a layer) the server's certificate chain and
/// host name are verified (`VERIFY_IDENTITY`); without one the connection is encrypted but the
/// server is not authenticated (`REQUIRED`), and init logs a warning saying so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTls {
    /// Encrypted, server not verified.
    Required,
    /// Encrypted, chain and host name verified against this PEM bundle (read at init).
    VerifyIdentity { ca_path: String, pem: Vec<u8> },
}

impl DbTls {
    /// `DB_CA_BUNDLE`: unset or empty → [`DbTls::Required`]; else the PEM file must be readable
    /// and hold at least one certificate, or init fails naming the variable and the file.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let Some(path) = env.optional("DB_CA_BUNDLE") else {
            return Ok(DbTls::Required);
        };
        let pem = std::fs::read(&path).map_err(|e| ConfigError::Invalid {
            name: "DB_CA_BUNDLE",
            why: format!("cannot read the CA bundle {path:?}: {e}"),
        })?;
        if !pem
            .windows(b"-----BEGIN CERTIFICATE-----".len())
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            return Err(ConfigError::Invalid {
                name: "DB_CA_BUNDLE",
                why: format!("{path:?} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
            });
        }
        Ok(DbTls::VerifyIdentity { ca_path: path, pem })
    }

    fn apply(&self, opts: MySqlConnectOptions) -> MySqlConnectOptions {
        match self {
            DbTls::Required => opts.ssl_mode(MySqlSslMode::Required),
            DbTls::VerifyIdentity { pem, .. } => opts
                .ssl_mode(MySqlSslMode::VerifyIdentity)
                .ssl_ca_from_pem(pem.clone()),
        }
    }
}

/// The database credentials of an RDS-managed (or user-provided) secret.
#[derive(serde::Deserialize)]
struct Creds {
    username: String,
    password: String,
}

/// The connection options the functions use on AWS: host, port, database and the credentials
/// of `secret`, over TLS as `tls` says. Built as options, not a URL: nothing to escape.
pub fn mysql_options(
    host: &str,
    port: u16,
    database: &str,
    username: &str,
    password: &str,
    tls: &DbTls,
) -> MySqlConnectOptions {
    tls.apply(
        MySqlConnectOptions::new()
            .host(host)
            .port(port)
            .database(database)
            .username(username)
            .password(password),
    )
}

/// The `(username, password)` of a database secret (`{"username","password"}`), e.g. `migrate`
/// reading the admin secret and the application user's secret. Errors name the secret, never
/// its value.
pub async fn database_credentials(
    sdk: &aws_config::SdkConfig,
    arn: &str,
) -> Result<(String, String), ConfigError> {
    credentials(&aws_sdk_secretsmanager::Client::new(sdk), arn).await
}

async fn credentials(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<(String, String), ConfigError> {
    let secret = read_secret(client, arn).await?;
    let creds: Creds = serde_json::from_str(&secret).map_err(|e| ConfigError::Secret {
        arn: arn.to_owned(),
        why: format!("not a username/password secret: {e}"),
    })?;
    Ok((creds.username, creds.password))
}

/// The database: `DATABASE_URL` when set (local stack, tests; TLS as the URL says);
/// otherwise (AWS) `DB_SECRET_ARN` (the RDS-managed master secret, `{"username","password"}`),
/// `DB_HOST`, `DB_PORT`, `DB_NAME`, always over TLS (see [`DbTls`], `DB_CA_BUNDLE`).
/// The pool connects lazily; nothing is sent to the database at init.
pub async fn database_from_env(
    env: &Env,
    sdk: Option<&aws_config::SdkConfig>,
    default_max_connections: u32,
) -> Result<DynStore, ConfigError> {
    let settings = PoolSettings {
        max_connections: env.parse_or("DB_MAX_CONNECTIONS", default_max_connections)?,
        ..PoolSettings::default()
    };
    if let Some(url) = env.optional("DATABASE_URL") {
        return Ok(crate::store::connect(&url, &settings)?);
    }
    let arn = env.required("DB_SECRET_ARN")?;
    let host = env.required("DB_HOST")?;
    let port: u16 = env.parse_or("DB_PORT", 3306)?;
    let name = env.required("DB_NAME")?;
    let tls = DbTls::from_env(env)?;
    let sdk = sdk.ok_or(ConfigError::Missing("DATABASE_URL"))?;
    match &tls {
        DbTls::Required => tracing::warn!(
            host = %host,
            "DB_CA_BUNDLE is not set: the database connection is encrypted (TLS required) but \
             the server certificate is NOT verified; set DB_CA_BUNDLE to the RDS CA bundle \
             (docs/deploy.md) to verify it"
        ),
        DbTls::VerifyIdentity { ca_path, .. } => tracing::info!(
            host = %host,
            ca_bundle = %ca_path,
            "database TLS: server certificate and host name verified (VERIFY_IDENTITY)"
        ),
    }
    let ttl = Duration::from_secs(env.parse_or("DB_SECRET_TTL_SECS", 300u64)?.max(1));
    let source = Arc::new(SecretCredentials {
        client: aws_sdk_secretsmanager::Client::new(sdk),
        arn,
        host,
        port,
        database: name,
        tls,
    });
    // Init fails here, naming the secret, if it cannot be read or is not a username/password pair.
    // (Boxed: the SDK's future is deep, and migrate nests this in its own.)
    let opts = Box::pin(source.options()).await?;
    Ok(Arc::new(crate::store::MySqlStore::with_credentials(
        opts, &settings, source, ttl,
    )))
}

/// The database secret as a [`CredentialSource`]: re-read when the store asks (every
/// `DB_SECRET_TTL_SECS`, and when MySQL refuses the credentials after a rotation).
struct SecretCredentials {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
    host: String,
    port: u16,
    database: String,
    tls: DbTls,
}

impl SecretCredentials {
    /// Connect options with the secret's credentials as they are now.
    async fn options(&self) -> Result<MySqlConnectOptions, ConfigError> {
        let (username, password) = credentials(&self.client, &self.arn).await?;
        Ok(mysql_options(
            &self.host,
            self.port,
            &self.database,
            &username,
            &password,
            &self.tls,
        ))
    }
}

#[async_trait::async_trait]
impl CredentialSource for SecretCredentials {
    async fn current(&self) -> Result<MySqlConnectOptions, String> {
        self.options().await.map_err(|e| e.to_string())
    }
}

/// The admin token: `ADMIN_TOKEN_SECRET_ARN` (Secrets Manager) on AWS, `ADMIN_TOKEN` locally.
pub async fn admin_token_from_env(
    env: &Env,
    sdk: Option<&aws_config::SdkConfig>,
) -> Result<String, ConfigError> {
    if let Some(arn) = env.optional("ADMIN_TOKEN_SECRET_ARN") {
        let sdk = sdk.ok_or(ConfigError::Missing("ADMIN_TOKEN"))?;
        return secret_string(sdk, &arn).await.map(|s| s.trim().to_owned());
    }
    env.required("ADMIN_TOKEN")
}

/// The key that signs factory callback URLs: `CALLBACK_SECRET_ARN` on AWS,
/// `CALLBACK_SECRET` locally.
pub async fn callback_secret_from_env(
    env: &Env,
    sdk: Option<&aws_config::SdkConfig>,
) -> Result<String, ConfigError> {
    if let Some(arn) = env.optional("CALLBACK_SECRET_ARN") {
        let sdk = sdk.ok_or(ConfigError::Missing("CALLBACK_SECRET"))?;
        return secret_string(sdk, &arn).await.map(|s| s.trim().to_owned());
    }
    env.required("CALLBACK_SECRET")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_env<T>(vars: &[(&str, &str)], f: impl FnOnce() -> T) -> T {
        // The variables these tests use are read by nothing else in this test binary.
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        for (k, v) in vars {
            // SAFETY: serialised by LOCK; no other thread reads these variables.
            unsafe { std::env::set_var(k, v) };
        }
        let out = f();
        for (k, _) in vars {
            // SAFETY: as above.
            unsafe { std::env::remove_var(k) };
        }
        out
    }

    #[test]
    fn no_ca_bundle_means_tls_required_unverified() {
        let tls = with_env(&[("DB_CA_BUNDLE", "")], || DbTls::from_env(&Env));
        assert_eq!(tls.ok(), Some(DbTls::Required));
    }

    #[test]
    fn a_missing_ca_bundle_is_a_startup_error_naming_the_variable() {
        let err = with_env(&[("DB_CA_BUNDLE", "/nonexistent/rds-ca.pem")], || {
            DbTls::from_env(&Env)
        })
        .expect_err("a missing file must fail init");
        let msg = err.to_string();
        assert!(msg.contains("DB_CA_BUNDLE"), "{msg}");
        assert!(msg.contains("/nonexistent/rds-ca.pem"), "{msg}");
    }

    #[test]
    fn a_ca_bundle_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("ca-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let file = dir.join("not-a-bundle.pem");
        std::fs::write(&file, b"hello").ok();
        let path = file.display().to_string();
        let err = with_env(&[("DB_CA_BUNDLE", path.as_str())], || DbTls::from_env(&Env))
            .expect_err("no certificate in the file");
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn aws_options_always_ask_for_tls() {
        let o = mysql_options("db", 3306, "donuts", "u", "p@ss:/w", &DbTls::Required);
        assert!(matches!(o.get_ssl_mode(), MySqlSslMode::Required));
        let v = DbTls::VerifyIdentity {
            ca_path: "x".into(),
            pem: b"-----BEGIN CERTIFICATE-----".to_vec(),
        };
        let o = mysql_options("db", 3306, "donuts", "u", "p", &v);
        assert!(matches!(o.get_ssl_mode(), MySqlSslMode::VerifyIdentity));
        assert_eq!(o.get_host(), "db");
        assert_eq!(o.get_username(), "u");
    }
}
