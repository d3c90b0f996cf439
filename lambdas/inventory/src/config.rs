//! Configuration from environment variables, read once at init. Every function reads its
//! variables in its own `main.rs` through [`Env`], so the template cross-check can see them.

use crate::store::{DynStore, PoolSettings, StoreError};
use std::str::FromStr;
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
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
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

/// The database: `DATABASE_URL` when set; otherwise (AWS) `DB_SECRET_ARN` (the RDS-managed
/// master secret, `{"username","password"}`), `DB_HOST`, `DB_PORT`, `DB_NAME`.
/// The pool connects lazily; nothing is sent to the database at init.
pub async fn database_from_env(
    env: &Env,
    sdk: Option<&aws_config::SdkConfig>,
    default_max_connections: u32,
) -> Result<DynStore, ConfigError> {
    let url = match env.optional("DATABASE_URL") {
        Some(url) => url,
        None => {
            let arn = env.required("DB_SECRET_ARN")?;
            let host = env.required("DB_HOST")?;
            let port: u16 = env.parse_or("DB_PORT", 3306)?;
            let name = env.required("DB_NAME")?;
            let sdk = sdk.ok_or(ConfigError::Missing("DATABASE_URL"))?;
            let secret = secret_string(sdk, &arn).await?;
            #[derive(serde::Deserialize)]
            struct Creds {
                username: String,
                password: String,
            }
            let creds: Creds = serde_json::from_str(&secret).map_err(|e| ConfigError::Secret {
                arn: arn.clone(),
                why: format!("not a username/password secret: {e}"),
            })?;
            format!(
                "mysql://{}:{}@{host}:{port}/{name}?ssl-mode=required",
                urlencode(&creds.username),
                urlencode(&creds.password)
            )
        }
    };
    let settings = PoolSettings {
        max_connections: env.parse_or("DB_MAX_CONNECTIONS", default_max_connections)?,
        ..PoolSettings::default()
    };
    Ok(crate::store::connect(&url, &settings)?)
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

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencode_escapes_credentials() {
        assert_eq!(urlencode("a b@c:d/e"), "a%20b%40c%3Ad%2Fe");
        assert_eq!(urlencode("plain-1.2_3~"), "plain-1.2_3~");
    }
}
