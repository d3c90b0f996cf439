//! What the harness derives from the template: the functions and their binaries, and the
//! events AWS would feed them (HTTP API routes, schedules, SQS event source mappings, CloudWatch
//! Logs subscriptions, custom resources).

use super::{Template, Values, as_str, scalar};
use crate::Error;
use serde_json::Value as Json;
use serde_norway::Value as Yaml;

/// A function's HTTP API route: `None` method is `ANY`; `None` path is `$default`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub function: String,
    pub method: Option<String>,
    pub path: Option<String>,
}

impl Route {
    pub fn key(&self) -> String {
        match (&self.method, &self.path) {
            (_, None) => "$default".into(),
            (m, Some(p)) => format!("{} {p}", m.as_deref().unwrap_or("ANY")),
        }
    }
}

/// An EventBridge schedule of a function (`Type: Schedule` events).
#[derive(Debug, Clone)]
pub struct Schedule {
    pub function: String,
    pub name: String,
    pub expression: String,
    pub enabled: bool,
}

/// An SQS event source mapping (`AWS::Lambda::EventSourceMapping` or a SAM `Type: SQS` event).
#[derive(Debug, Clone)]
pub struct Mapping {
    pub id: String,
    pub function: String,
    pub queue: String,
    pub batch_size: usize,
    pub window_s: u64,
    pub report_failures: bool,
    pub max_concurrency: usize,
}

/// A CloudWatch Logs subscription of a function's log group to a destination function.
#[derive(Debug, Clone)]
pub struct LogSubscription {
    pub id: String,
    pub log_group: String,
    pub filter_name: String,
    pub pattern: String,
    pub destination: String,
}

fn logical_of(j: &Option<Json>, v: &Values) -> Option<String> {
    let s = j.as_ref().map(scalar)?;
    // A resolved ARN/name back to its logical id; a function's alias or version
    // (`!Ref Fn.Alias`, SAM's AutoPublishAlias) is that function: one version runs here.
    v.refs
        .iter()
        .find(|(_, val)| **val == s)
        .map(|(k, _)| qualified_to_function(k).to_owned())
        .or_else(|| {
            v.attrs
                .iter()
                .find(|(_, val)| **val == s)
                .map(|((k, _), _)| k.clone())
        })
}

/// `Fn.Alias` / `Fn.Version` → `Fn`; any other logical id as it is.
fn qualified_to_function(id: &str) -> &str {
    id.strip_suffix(".Alias")
        .or_else(|| id.strip_suffix(".Version"))
        .unwrap_or(id)
}

impl Template {
    pub fn functions(&self) -> Result<Vec<String>, Error> {
        self.of_type("AWS::Serverless::Function")
    }

    /// The binary a function deploys (`Metadata.BuildProperties.Binary`, rust-cargolambda).
    pub fn binary(&self, id: &str) -> Option<String> {
        self.resources
            .get(id)?
            .get("Metadata")?
            .get("BuildProperties")?
            .get("Binary")?
            .as_str()
            .map(str::to_owned)
    }

    fn events(&self, id: &str) -> Vec<(String, Yaml)> {
        self.props(id)
            .and_then(|p| p.get("Events"))
            .and_then(Yaml::as_mapping)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, e)| Some((k.as_str()?.to_owned(), e.clone())))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn routes(&self, v: &Values) -> Result<Vec<Route>, Error> {
        let mut out = Vec::new();
        for f in self.functions()? {
            for (_, e) in self.events(&f) {
                if e.get("Type").and_then(as_str) != Some("HttpApi") {
                    continue;
                }
                let props = match e.get("Properties") {
                    Some(p) => self.resolve(p, v)?.unwrap_or(Json::Null),
                    None => Json::Null,
                };
                let method = props
                    .get("Method")
                    .map(scalar)
                    .map(|m| m.to_uppercase())
                    .filter(|m| m != "ANY" && m != "X-AMAZON-APIGATEWAY-ANY-METHOD");
                let path = props.get("Path").map(scalar);
                out.push(Route {
                    function: f.clone(),
                    method,
                    path,
                });
            }
        }
        Ok(out)
    }

    pub fn schedules(&self, v: &Values) -> Result<Vec<Schedule>, Error> {
        let mut out = Vec::new();
        for f in self.functions()? {
            for (name, e) in self.events(&f) {
                if e.get("Type").and_then(as_str) != Some("Schedule") {
                    continue;
                }
                let props = match e.get("Properties") {
                    Some(p) => self.resolve(p, v)?.unwrap_or(Json::Null),
                    None => Json::Null,
                };
                out.push(Schedule {
                    function: f.clone(),
                    name,
                    expression: props.get("Schedule").map(scalar).unwrap_or_default(),
                    enabled: props.get("Enabled").map(scalar).as_deref() != Some("false")
                        && props.get("State").map(scalar).as_deref() != Some("DISABLED"),
                });
            }
        }
        Ok(out)
    }

    pub fn mappings(&self, v: &Values) -> Result<Vec<Mapping>, Error> {
        let mut out = Vec::new();
        for id in self.of_type("AWS::Lambda::EventSourceMapping")? {
            let p = self.prop(&id, &[], v)?.unwrap_or(Json::Null);
            let function = logical_of(&p.get("FunctionName").cloned(), v)
                .ok_or_else(|| format!("{id}: FunctionName is not a function of the template"))?;
            let queue = logical_of(&p.get("EventSourceArn").cloned(), v)
                .ok_or_else(|| format!("{id}: EventSourceArn is not a queue of the template"))?;
            out.push(mapping_from(&id, function, queue, &p));
        }
        // SAM's own `Type: SQS` events.
        for f in self.functions()? {
            for (name, e) in self.events(&f) {
                if e.get("Type").and_then(as_str) != Some("SQS") {
                    continue;
                }
                let p = match e.get("Properties") {
                    Some(p) => self.resolve(p, v)?.unwrap_or(Json::Null),
                    None => Json::Null,
                };
                let queue = logical_of(&p.get("Queue").cloned(), v)
                    .ok_or_else(|| format!("{f}.{name}: Queue is not a queue of the template"))?;
                out.push(mapping_from(&format!("{f}{name}"), f.clone(), queue, &p));
            }
        }
        Ok(out)
    }

    pub fn log_subscriptions(&self, v: &Values) -> Result<Vec<LogSubscription>, Error> {
        let mut out = Vec::new();
        for id in self.of_type("AWS::Logs::SubscriptionFilter")? {
            let p = self.prop(&id, &[], v)?.unwrap_or(Json::Null);
            let log_group = logical_of(&p.get("LogGroupName").cloned(), v)
                .ok_or_else(|| format!("{id}: LogGroupName is not a log group of the template"))?;
            let destination = logical_of(&p.get("DestinationArn").cloned(), v)
                .ok_or_else(|| format!("{id}: DestinationArn is not a function of the template"))?;
            out.push(LogSubscription {
                id: id.clone(),
                log_group,
                filter_name: p
                    .get("FilterName")
                    .map(scalar)
                    .unwrap_or_else(|| id.clone()),
                pattern: p.get("FilterPattern").map(scalar).unwrap_or_default(),
                destination,
            });
        }
        Ok(out)
    }

    /// The logical id of the log group a function logs to (`LoggingConfig.LogGroup`).
    pub fn log_group_of(&self, function: &str, v: &Values) -> Result<Option<String>, Error> {
        let j = self.prop(function, &["LoggingConfig", "LogGroup"], v)?;
        Ok(logical_of(&j, v))
    }

    /// Custom resources (`Custom::*` / `AWS::CloudFormation::CustomResource`), in template order.
    pub fn custom_resources(&self) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        for (id, r) in &self.resources {
            let ty = r.get("Type").and_then(as_str).unwrap_or_default();
            if (ty.starts_with("Custom::") || ty == "AWS::CloudFormation::CustomResource")
                && self.exists(id)?
            {
                out.push(id.clone());
            }
        }
        Ok(out)
    }

    pub fn resource_type(&self, id: &str) -> String {
        self.resources
            .get(id)
            .and_then(|r| r.get("Type"))
            .and_then(as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// The pre-traffic hook of a function's gradual deployment
    /// (`DeploymentPreference.Hooks.PreTraffic`), as the logical id of that hook function.
    pub fn pre_traffic_hook(&self, function: &str, v: &Values) -> Result<Option<String>, Error> {
        let hook = self.prop(
            function,
            &["DeploymentPreference", "Hooks", "PreTraffic"],
            v,
        )?;
        Ok(logical_of(&hook, v))
    }

    /// The alias SAM publishes for a function (`AutoPublishAlias`), if any.
    pub fn alias(&self, function: &str, v: &Values) -> Result<Option<String>, Error> {
        Ok(self
            .prop(function, &["AutoPublishAlias"], v)?
            .map(|j| scalar(&j)))
    }

    /// `logical_of` for callers outside this module.
    pub fn logical_id_of(&self, value: &str, v: &Values) -> Option<String> {
        logical_of(&Some(Json::String(value.to_owned())), v)
    }
}

fn mapping_from(id: &str, function: String, queue: String, p: &Json) -> Mapping {
    let num = |k: &str, d: u64| {
        p.get(k)
            .map(scalar)
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    Mapping {
        id: id.to_owned(),
        function,
        queue,
        batch_size: num("BatchSize", 10) as usize,
        window_s: num("MaximumBatchingWindowInSeconds", 0),
        report_failures: p
            .get("FunctionResponseTypes")
            .map(|t| t.to_string().contains("ReportBatchItemFailures"))
            .unwrap_or(false),
        max_concurrency: p
            .get("ScalingConfig")
            .and_then(|s| s.get("MaximumConcurrency"))
            .map(scalar)
            .and_then(|s| s.parse().ok())
            .unwrap_or(2),
    }
}
