//! Reads `template.yaml` as CloudFormation would: parameters (defaults, overridable),
//! conditions, and the intrinsic functions the template uses (`Ref`, `GetAtt`, `If`, `Sub`,
//! `Join`, `Select`, `Split`, `Equals`, `Not`, `And`, `Or`, `Condition`), resolved against the
//! local values of the resources the harness provisions ([`Values`]).
//!
//! Nothing here is specific to this project's resource names: functions, routes, schedules,
//! queues, mappings and subscriptions are all derived from the template, so something missing
//! from the template is missing from the harness too.

use crate::Error;
use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// The parsed template and its parameter values.
pub struct Template {
    pub resources: BTreeMap<String, Yaml>,
    globals_env: Option<Yaml>,
    globals_fn: Option<Yaml>,
    conditions_src: BTreeMap<String, Yaml>,
    pub params: HashMap<String, String>,
    pub stack_name: String,
}

/// Physical values of resources: what `Ref` and `GetAtt` answer.
#[derive(Debug, Default, Clone)]
pub struct Values {
    pub refs: HashMap<String, String>,
    pub attrs: HashMap<(String, String), String>,
}

impl Values {
    pub fn set_ref(&mut self, id: &str, v: impl Into<String>) {
        self.refs.insert(id.to_owned(), v.into());
    }
    pub fn set_attr(&mut self, id: &str, attr: &str, v: impl Into<String>) {
        self.attrs
            .insert((id.to_owned(), attr.to_owned()), v.into());
    }
}

fn tag_name(t: &serde_norway::value::TaggedValue) -> String {
    t.tag.to_string().trim_start_matches('!').to_owned()
}

fn as_str(y: &Yaml) -> Option<&str> {
    y.as_str()
}

impl Template {
    pub fn load(path: &Path, overrides: &HashMap<String, String>) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let doc: Yaml =
            serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let map = |key: &str| -> BTreeMap<String, Yaml> {
            doc.get(key)
                .and_then(Yaml::as_mapping)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut params = HashMap::new();
        for (name, p) in map("Parameters") {
            let default = match p.get("Default") {
                Some(Yaml::String(s)) => s.clone(),
                Some(Yaml::Number(n)) => n.to_string(),
                Some(Yaml::Bool(b)) => b.to_string(),
                Some(Yaml::Sequence(s)) => s
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
                    .join(","),
                _ => String::new(),
            };
            params.insert(name, default);
        }
        for (k, v) in overrides {
            if !params.contains_key(k) {
                return Err(format!("--param {k}: the template has no such parameter").into());
            }
            params.insert(k.clone(), v.clone());
        }
        let globals = doc.get("Globals").and_then(|g| g.get("Function")).cloned();
        Ok(Template {
            resources: map("Resources"),
            globals_env: globals
                .as_ref()
                .and_then(|g| g.get("Environment"))
                .and_then(|e| e.get("Variables"))
                .cloned(),
            globals_fn: globals,
            conditions_src: map("Conditions"),
            params,
            stack_name: "donut-harness".into(),
        })
    }

    /// Whether a named condition holds.
    pub fn condition(&self, name: &str) -> Result<bool, Error> {
        let src = self
            .conditions_src
            .get(name)
            .ok_or_else(|| format!("unknown condition {name}"))?;
        let v = self.resolve(src, &Values::default())?;
        Ok(v == Some(Json::Bool(true)))
    }

    /// Whether a resource exists (its `Condition`, if any, holds).
    pub fn exists(&self, id: &str) -> Result<bool, Error> {
        match self.resources.get(id).and_then(|r| r.get("Condition")) {
            Some(c) => self.condition(as_str(c).unwrap_or_default()),
            None => Ok(self.resources.contains_key(id)),
        }
    }

    /// Logical ids of the existing resources of a type.
    pub fn of_type(&self, ty: &str) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        for (id, r) in &self.resources {
            if r.get("Type").and_then(as_str) == Some(ty) && self.exists(id)? {
                out.push(id.clone());
            }
        }
        Ok(out)
    }

    pub fn props(&self, id: &str) -> Option<&Yaml> {
        self.resources.get(id).and_then(|r| r.get("Properties"))
    }

    /// A property of a resource, resolved (`None` when absent or `AWS::NoValue`).
    pub fn prop(&self, id: &str, path: &[&str], v: &Values) -> Result<Option<Json>, Error> {
        let mut cur = match self.props(id) {
            Some(p) => p,
            None => return Ok(None),
        };
        for key in path {
            match cur.get(*key) {
                Some(next) => cur = next,
                None => return Ok(None),
            }
        }
        self.resolve(cur, v)
    }

    /// A function property: the function's own, else `Globals.Function`'s.
    /// Maps are merged as SAM merges them (the function's keys over the globals').
    pub fn fn_prop(&self, id: &str, key: &str, v: &Values) -> Result<Option<Json>, Error> {
        let own = self.prop(id, &[key], v)?;
        let global = match self.globals_fn.as_ref().and_then(|g| g.get(key)) {
            Some(g) => self.resolve(g, v)?,
            None => None,
        };
        Ok(match (global, own) {
            (Some(Json::Object(mut g)), Some(Json::Object(o))) => {
                g.extend(o);
                Some(Json::Object(g))
            }
            (g, o) => o.or(g),
        })
    }

    /// A function's environment: `Globals.Function.Environment.Variables` overlaid with its own,
    /// resolved to strings as Lambda sees them.
    pub fn environment(&self, id: &str, v: &Values) -> Result<BTreeMap<String, String>, Error> {
        let mut env = BTreeMap::new();
        let own = self
            .props(id)
            .and_then(|p| p.get("Environment"))
            .and_then(|e| e.get("Variables"));
        for src in [self.globals_env.as_ref(), own].into_iter().flatten() {
            let Some(m) = src.as_mapping() else { continue };
            for (k, val) in m {
                let Some(k) = k.as_str() else { continue };
                match self.resolve(val, v)? {
                    Some(x) => env.insert(k.to_owned(), scalar(&x)),
                    None => env.remove(k),
                };
            }
        }
        Ok(env)
    }

    /// Resolves a template value; `None` is `AWS::NoValue`.
    pub fn resolve(&self, y: &Yaml, v: &Values) -> Result<Option<Json>, Error> {
        Ok(match y {
            Yaml::Null => Some(Json::Null),
            Yaml::Bool(b) => Some(Json::Bool(*b)),
            Yaml::Number(n) => Some(serde_json::to_value(n).unwrap_or(Json::Null)),
            Yaml::String(s) => Some(Json::String(s.clone())),
            Yaml::Sequence(items) => {
                let mut out = Vec::new();
                for i in items {
                    if let Some(x) = self.resolve(i, v)? {
                        out.push(x);
                    }
                }
                Some(Json::Array(out))
            }
            Yaml::Mapping(m) => {
                if m.len() == 1
                    && let Some((k, arg)) = m.iter().next()
                    && let Some(k) = k.as_str()
                    && (k == "Ref" || k == "Condition" || k.starts_with("Fn::"))
                {
                    return self.intrinsic(k.trim_start_matches("Fn::"), arg, v);
                }
                let mut out = serde_json::Map::new();
                for (k, val) in m {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        other => serde_norway::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_owned(),
                    };
                    if let Some(x) = self.resolve(val, v)? {
                        out.insert(key, x);
                    }
                }
                Some(Json::Object(out))
            }
            Yaml::Tagged(t) => return self.intrinsic(&tag_name(t), &t.value, v),
        })
    }

    fn resolve_str(&self, y: &Yaml, v: &Values) -> Result<String, Error> {
        Ok(self.resolve(y, v)?.map(|j| scalar(&j)).unwrap_or_default())
    }

    fn intrinsic(&self, name: &str, arg: &Yaml, v: &Values) -> Result<Option<Json>, Error> {
        let list = |n: usize| -> Result<&Vec<Yaml>, Error> {
            match arg.as_sequence() {
                Some(s) if s.len() >= n => Ok(s),
                _ => Err(format!("!{name} needs a list of {n}").into()),
            }
        };
        Ok(match name {
            "Ref" => {
                let target = as_str(arg).ok_or("!Ref needs a name")?;
                if target == "AWS::NoValue" {
                    return Ok(None);
                }
                Some(Json::String(self.reference(target, v)))
            }
            "GetAtt" => {
                let (id, attr) = match arg {
                    Yaml::String(s) => s
                        .split_once('.')
                        .map(|(a, b)| (a.to_owned(), b.to_owned()))
                        .ok_or_else(|| format!("!GetAtt {s}: no attribute"))?,
                    Yaml::Sequence(s) if s.len() == 2 => {
                        (self.resolve_str(&s[0], v)?, self.resolve_str(&s[1], v)?)
                    }
                    _ => return Err("!GetAtt needs Resource.Attribute".into()),
                };
                Some(Json::String(self.attribute(&id, &attr, v)))
            }
            "If" => {
                let s = list(3)?;
                let cond = as_str(&s[0]).ok_or("!If needs a condition name")?;
                let branch = if self.condition(cond)? { &s[1] } else { &s[2] };
                return self.resolve(branch, v);
            }
            "Condition" => Some(Json::Bool(
                self.condition(as_str(arg).ok_or("!Condition needs a name")?)?,
            )),
            "Equals" => {
                let s = list(2)?;
                let a = self.resolve(&s[0], v)?.map(|j| scalar(&j));
                let b = self.resolve(&s[1], v)?.map(|j| scalar(&j));
                Some(Json::Bool(a == b))
            }
            "Not" => {
                let s = list(1)?;
                Some(Json::Bool(
                    self.resolve(&s[0], v)? != Some(Json::Bool(true)),
                ))
            }
            "And" | "Or" => {
                let s = list(1)?;
                let mut vals = Vec::new();
                for c in s {
                    vals.push(self.resolve(c, v)? == Some(Json::Bool(true)));
                }
                Some(Json::Bool(if name == "And" {
                    vals.iter().all(|b| *b)
                } else {
                    vals.iter().any(|b| *b)
                }))
            }
            "EachMemberEquals" => {
                let s = list(2)?;
                let items = self.resolve(&s[0], v)?.unwrap_or(Json::Null);
                let want = self.resolve_str(&s[1], v)?;
                Some(Json::Bool(match items {
                    Json::Array(a) => a.iter().all(|x| scalar(x) == want),
                    other => scalar(&other) == want,
                }))
            }
            "Join" => {
                let s = list(2)?;
                let sep = self.resolve_str(&s[0], v)?;
                let parts = match self.resolve(&s[1], v)? {
                    Some(Json::Array(a)) => a.iter().map(scalar).collect::<Vec<_>>(),
                    Some(other) => vec![scalar(&other)],
                    None => vec![],
                };
                Some(Json::String(parts.join(&sep)))
            }
            "Split" => {
                let s = list(2)?;
                let sep = self.resolve_str(&s[0], v)?;
                let text = self.resolve_str(&s[1], v)?;
                Some(Json::Array(
                    text.split(sep.as_str())
                        .map(|p| Json::String(p.to_owned()))
                        .collect(),
                ))
            }
            "Select" => {
                let s = list(2)?;
                let i: usize = self
                    .resolve_str(&s[0], v)?
                    .parse()
                    .map_err(|e| format!("!Select index: {e}"))?;
                match self.resolve(&s[1], v)? {
                    Some(Json::Array(a)) => a.get(i).cloned(),
                    _ => None,
                }
            }
            "Sub" => {
                let (text, vars) = match arg {
                    Yaml::String(s) => (s.clone(), HashMap::new()),
                    Yaml::Sequence(s) if !s.is_empty() => {
                        let text = as_str(&s[0]).ok_or("!Sub needs a string")?.to_owned();
                        let mut vars = HashMap::new();
                        if let Some(m) = s.get(1).and_then(Yaml::as_mapping) {
                            for (k, val) in m {
                                if let Some(k) = k.as_str() {
                                    vars.insert(k.to_owned(), self.resolve_str(val, v)?);
                                }
                            }
                        }
                        (text, vars)
                    }
                    _ => return Err("!Sub needs a string".into()),
                };
                Some(Json::String(self.substitute(&text, &vars, v)?))
            }
            "Base64" => Some(Json::String(self.resolve_str(arg, v)?)),
            other => return Err(format!("intrinsic !{other} is not emulated").into()),
        })
    }

    fn substitute(
        &self,
        text: &str,
        vars: &HashMap<String, String>,
        v: &Values,
    ) -> Result<String, Error> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or("!Sub: unclosed ${")?;
            let name = &after[..end];
            if let Some(lit) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(lit);
                out.push('}');
            } else if let Some(val) = vars.get(name) {
                out.push_str(val);
            } else if let Some((id, attr)) = name.split_once('.')
                && !name.starts_with("AWS::")
            {
                out.push_str(&self.attribute(id, attr, v));
            } else {
                out.push_str(&self.reference(name, v));
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn reference(&self, target: &str, v: &Values) -> String {
        match target {
            "AWS::Region" => REGION.into(),
            "AWS::AccountId" => ACCOUNT.into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::Partition" => "aws".into(),
            "AWS::StackName" => self.stack_name.clone(),
            "AWS::StackId" => format!(
                "arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{}/harness",
                self.stack_name
            ),
            _ => {
                if let Some(p) = self.params.get(target) {
                    return p.clone();
                }
                if let Some(r) = v.refs.get(target) {
                    return r.clone();
                }
                // `Fn.Alias` / `Fn.Version` (SAM AutoPublishAlias) and resources the harness
                // does not emulate (VPC, IAM, alarms): a stable placeholder.
                if let Some((id, attr)) = target.split_once('.')
                    && let Some(r) = v.attrs.get(&(id.to_owned(), attr.to_owned()))
                {
                    return r.clone();
                }
                format!("local-{target}")
            }
        }
    }

    fn attribute(&self, id: &str, attr: &str, v: &Values) -> String {
        v.attrs
            .get(&(id.to_owned(), attr.to_owned()))
            .cloned()
            .unwrap_or_else(|| format!("local-{id}.{attr}"))
    }
}

/// A resolved value as the string Lambda's environment (or an SQS attribute) would hold.
pub fn scalar(j: &Json) -> String {
    match j {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        Json::Array(a) => a.iter().map(scalar).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

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
    // A resolved ARN/name back to its logical id.
    v.refs
        .iter()
        .find(|(_, val)| **val == s)
        .map(|(k, _)| k.clone())
        .or_else(|| {
            v.attrs
                .iter()
                .find(|(_, val)| **val == s)
                .map(|((k, _), _)| k.clone())
        })
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

/// Matches a CloudWatch Logs JSON filter pattern of the forms the template uses:
/// `{ $.a.b = * }` (the field exists), `{ $.a = "x" }` / `{ $.a = 1 }` (equals). An empty
/// pattern matches every line. Anything else is refused at start-up (not silently ignored).
pub fn filter_matches(pattern: &str, line: &str) -> Result<bool, Error> {
    let p = pattern.trim();
    if p.is_empty() {
        return Ok(true);
    }
    let inner = p
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| format!("filter pattern {pattern:?} is not emulated"))?;
    let (lhs, rhs) = inner
        .split_once('=')
        .ok_or_else(|| format!("filter pattern {pattern:?} is not emulated"))?;
    let path = lhs
        .trim()
        .strip_prefix("$.")
        .ok_or_else(|| format!("filter pattern {pattern:?} is not emulated"))?;
    let Ok(doc) = serde_json::from_str::<Json>(line) else {
        return Ok(false);
    };
    let mut cur = &doc;
    for key in path.split('.') {
        match cur.get(key) {
            Some(n) => cur = n,
            None => return Ok(false),
        }
    }
    let rhs = rhs.trim();
    Ok(rhs == "*" || scalar(cur) == rhs.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_patterns() {
        let p = "{ $.capture.schema_version = * }";
        assert!(filter_matches(p, r#"{"capture":{"schema_version":1}}"#).unwrap());
        assert!(!filter_matches(p, r#"{"level":"INFO"}"#).unwrap());
        assert!(!filter_matches(p, "not json").unwrap());
        assert!(filter_matches("{ $.a = \"x\" }", r#"{"a":"x"}"#).unwrap());
        assert!(filter_matches("[ip, user]", "x").is_err());
    }
}
