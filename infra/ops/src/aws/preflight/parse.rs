//! What preflight reads: the template's parameter defaults, samconfig.toml's overrides, the AWS
//! answers (Lambda JSON, EC2 and RDS XML) and the bootstraps' ELF headers.

use super::Params;
use std::path::Path;

/// Lambda `GetAccountSettings`: the account's concurrency quota and what is left unreserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountSettings {
    pub limit: u64,
    pub unreserved: u64,
}

pub fn account_settings(body: &str) -> Result<AccountSettings, String> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("GetAccountSettings: {e}"))?;
    let limit = &v["AccountLimit"];
    match (
        limit["ConcurrentExecutions"].as_u64(),
        limit["UnreservedConcurrentExecutions"].as_u64(),
    ) {
        (Some(limit), Some(unreserved)) => Ok(AccountSettings { limit, unreserved }),
        _ => Err(format!(
            "GetAccountSettings: no AccountLimit concurrency in {}",
            body.chars().take(200).collect::<String>()
        )),
    }
}

/// An EC2 availability zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub id: String,
    pub state: String,
    pub zone_type: String,
}

impl Zone {
    /// An available zone proper (not a Local Zone or Wavelength Zone).
    pub fn is_standard(&self) -> bool {
        self.state == "available" && self.zone_type == "availability-zone"
    }
}

/// EC2 `DescribeAvailabilityZones` (XML).
pub fn availability_zones(xml: &str) -> Result<Vec<Zone>, String> {
    let root = Node::parse(xml)?;
    let info = root.child("availabilityZoneInfo").ok_or_else(|| {
        format!(
            "DescribeAvailabilityZones: no availabilityZoneInfo in {}",
            root.name
        )
    })?;
    Ok(info
        .children_named("item")
        .map(|item| Zone {
            name: item.text_of("zoneName").to_owned(),
            id: item.text_of("zoneId").to_owned(),
            state: item.text_of("zoneState").to_owned(),
            // Older answers have no zoneType: they list availability zones only.
            zone_type: match item.text_of("zoneType") {
                "" => "availability-zone".to_owned(),
                t => t.to_owned(),
            },
        })
        .collect())
}

/// RDS `DescribeOrderableDBInstanceOptions` (XML): the zones of the options whose engine version
/// is `major` (e.g. "8.4" matches 8.4.3), and the next page's marker.
pub fn orderable_zones(xml: &str, major: &str) -> Result<(Vec<String>, Option<String>), String> {
    let root = Node::parse(xml)?;
    let result = root
        .child("DescribeOrderableDBInstanceOptionsResult")
        .ok_or_else(|| {
            format!(
                "DescribeOrderableDBInstanceOptions: unexpected {}",
                root.name
            )
        })?;
    let mut zones = Vec::new();
    if let Some(options) = result.child("OrderableDBInstanceOptions") {
        for o in options.children_named("OrderableDBInstanceOption") {
            let v = o.text_of("EngineVersion");
            if v != major && !v.starts_with(&format!("{major}.")) {
                continue;
            }
            for az in o
                .child("AvailabilityZones")
                .into_iter()
                .flat_map(|a| a.children_named("AvailabilityZone"))
            {
                let name = az.text_of("Name").to_owned();
                if !name.is_empty() && !zones.contains(&name) {
                    zones.push(name);
                }
            }
        }
    }
    let marker = Some(result.text_of("Marker").to_owned()).filter(|m| !m.is_empty());
    Ok((zones, marker))
}

/// A bootstrap's ELF header: class and machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elf {
    pub bits64: bool,
    pub machine: u16,
}

impl Elf {
    pub fn read(header: &[u8]) -> Result<Elf, String> {
        if header.len() < 20 || !header.starts_with(b"\x7fELF") {
            return Err("not an ELF executable".into());
        }
        let machine = match header[5] {
            1 => u16::from_le_bytes([header[18], header[19]]),
            2 => u16::from_be_bytes([header[18], header[19]]),
            e => return Err(format!("ELF with unknown byte order {e}")),
        };
        Ok(Elf {
            bits64: header[4] == 2,
            machine,
        })
    }
    /// The Lambda `Architectures` value this binary runs on.
    pub fn lambda_architecture(&self) -> Option<&'static str> {
        match (self.bits64, self.machine) {
            (true, 0x3e) => Some("x86_64"),
            (true, 0xb7) => Some("arm64"),
            _ => None,
        }
    }
    pub fn describe(&self) -> String {
        self.lambda_architecture()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("ELF machine {:#x}", self.machine))
    }
}

/// `<build>/<function>/bootstrap` of every function folder, with its ELF header.
pub fn bootstraps(build: &Path) -> Result<Vec<(String, Elf)>, String> {
    let dir = std::fs::read_dir(build).map_err(|e| format!("{}: {e}", build.display()))?;
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let path = entry.path().join("bootstrap");
        if !path.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut header = Vec::with_capacity(20);
        let elf = std::fs::File::open(&path)
            .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 20), &mut header))
            .map_err(|e| e.to_string())
            .and_then(|_| Elf::read(&header))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        out.push((name, elf));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The `Default` of every template parameter (as text; a list default joined by commas).
pub fn template_defaults(yaml: &str) -> Result<Params, String> {
    let doc: serde_norway::Value = serde_norway::from_str(yaml).map_err(|e| e.to_string())?;
    let params = doc
        .get("Parameters")
        .and_then(|p| p.as_mapping())
        .ok_or("no Parameters")?;
    let mut out = Params::new();
    for (k, v) in params {
        let (Some(name), Some(default)) = (k.as_str(), v.get("Default")) else {
            continue;
        };
        let text = match default {
            serde_norway::Value::String(s) => s.clone(),
            serde_norway::Value::Number(n) => n.to_string(),
            serde_norway::Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        out.insert(name.to_owned(), text);
    }
    Ok(out)
}

/// A string value `key = "..."` in the `[section]` of samconfig.toml (TOML basic or literal
/// string on one line), or None.
pub fn samconfig_value(toml: &str, section: &str, key: &str) -> Option<String> {
    let mut current = String::new();
    let mut found = None;
    for line in toml.lines() {
        let line = line.trim();
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = s.trim().to_owned();
            continue;
        }
        if current != section || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim() == key {
            found = toml_string(v.trim());
        }
    }
    found
}

fn toml_string(v: &str) -> Option<String> {
    if let Some(rest) = v.strip_prefix('\'') {
        return rest.split_once('\'').map(|(s, _)| s.to_owned());
    }
    let rest = v.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                c => out.push(c),
            },
            c => out.push(c),
        }
    }
    None
}

/// `sam deploy --parameter-overrides` text: `Key=Value Key2="a b"` (also `ParameterKey=K,ParameterValue=V`).
pub fn overrides(text: &str) -> Params {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    let mut out = Params::new();
    for w in words {
        if let Some(rest) = w.strip_prefix("ParameterKey=") {
            if let Some((k, v)) = rest.split_once(",ParameterValue=") {
                out.insert(k.to_owned(), v.to_owned());
            }
        } else if let Some((k, v)) = w.split_once('=') {
            out.insert(k.to_owned(), v.to_owned());
        }
    }
    out
}

/// A small XML element tree (names without prefixes, text concatenated).
#[derive(Debug, Default)]
pub struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn parse(xml: &str) -> Result<Node, String> {
        use xmlparser::{ElementEnd, Token, Tokenizer};
        let mut stack: Vec<Node> = vec![Node::default()];
        for token in Tokenizer::from(xml) {
            match token.map_err(|e| format!("XML: {e}"))? {
                Token::ElementStart { local, .. } => stack.push(Node {
                    name: local.as_str().to_owned(),
                    ..Node::default()
                }),
                Token::ElementEnd {
                    end: ElementEnd::Close(..) | ElementEnd::Empty,
                    ..
                } => {
                    let done = stack.pop().ok_or("XML: unbalanced")?;
                    stack
                        .last_mut()
                        .ok_or("XML: unbalanced")?
                        .children
                        .push(done);
                }
                Token::Text { text } | Token::Cdata { text, .. } => {
                    if let Some(n) = stack.last_mut() {
                        n.text.push_str(&unescape(text.as_str()));
                    }
                }
                _ => {}
            }
        }
        let mut doc = stack
            .pop()
            .filter(|_| stack.is_empty())
            .ok_or("XML: unclosed element")?;
        doc.children
            .pop()
            .ok_or_else(|| "XML: no root element".into())
    }
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    /// The trimmed text of the named child ("" if none).
    pub fn text_of(&self, name: &str) -> &str {
        self.child(name).map(|c| c.text.trim()).unwrap_or("")
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}
