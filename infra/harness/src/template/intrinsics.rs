//! Resolving template values as CloudFormation does: the intrinsic functions (`Ref`, `GetAtt`,
//! `If`, `Sub`, `Join`, `Select`, `Split`, `Equals`, `Not`, `And`, `Or`, `Condition`, …) and the
//! pseudo parameters, against the local [`Values`] of the provisioned resources.

use super::{ACCOUNT, REGION, Template, Values, as_str, scalar};
use crate::Error;
use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use std::collections::HashMap;

fn tag_name(t: &serde_norway::value::TaggedValue) -> String {
    t.tag.to_string().trim_start_matches('!').to_owned()
}

impl Template {
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
