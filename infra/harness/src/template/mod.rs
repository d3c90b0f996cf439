//! Reads `template.yaml` as CloudFormation would: parameters (defaults, overridable),
//! conditions, and the intrinsic functions the template uses (`Ref`, `GetAtt`, `If`, `Sub`,
//! `Join`, `Select`, `Split`, `Equals`, `Not`, `And`, `Or`, `Condition`), resolved against the
//! local values of the resources the harness provisions ([`Values`]).
//!
//! Nothing here is specific to this project's resource names: functions, routes, schedules,
//! queues, mappings and subscriptions are all derived from the template, so something missing
//! from the template is missing from the harness too.
//!
//! - this file: the template as read ([`Template::load`]), parameters, conditions, resources and
//!   their properties, a function's environment;
//! - `intrinsics`: resolving values (`Ref`, `Fn::*`, `!Sub` …) against [`Values`];
//! - `events`: what the harness derives from the template: functions, HTTP API routes,
//!   schedules, SQS event source mappings, log subscriptions, custom resources;
//! - `filter_pattern`: the CloudWatch Logs filter patterns the subscriptions use.

use crate::Error;
use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

mod events;
mod filter_pattern;
mod intrinsics;

pub use events::{LogSubscription, Mapping, Route, Schedule};
pub use filter_pattern::filter_matches;

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
