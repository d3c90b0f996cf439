//! The hostile corpus: every case with the answer it must get, gathered from one module a
//! concern (bodies, paths, headers), and the judge of one answer.

use crate::{bodies, headers, paths};
use pipeline_tests::faults::RawReply;

#[derive(Debug, Clone, Copy)]
pub enum Want {
    /// This status and error code.
    Code(u16, &'static str),
    /// Any 4xx with the JSON error body.
    Any4xx,
    /// Rejected by the HTTP parser (hyper) before any handler: a 4xx, body not ours. On AWS,
    /// API Gateway answers these itself.
    ParserReject,
}

pub struct Case {
    pub group: &'static str,
    pub name: String,
    pub raw: Vec<u8>,
    pub want: Want,
}

/// The cases gathered so far.
#[derive(Default)]
pub struct Corpus {
    cases: Vec<Case>,
}

impl Corpus {
    pub fn add(&mut self, group: &'static str, name: String, raw: Vec<u8>, want: Want) {
        self.cases.push(Case {
            group,
            name,
            raw,
            want,
        })
    }
}

/// Every case, in the order they are sent.
pub fn corpus() -> Vec<Case> {
    let mut corpus = Corpus::default();
    bodies::json(&mut corpus);
    bodies::quantities(&mut corpus);
    paths::evil_skus(&mut corpus);
    paths::odd_paths(&mut corpus);
    bodies::sizes(&mut corpus);
    bodies::invalid_utf8(&mut corpus);
    paths::methods(&mut corpus);
    headers::content_types(&mut corpus);
    headers::headers(&mut corpus);
    bodies::client_events(&mut corpus);
    corpus.cases
}

pub fn judge(c: &Case, reply: &Option<RawReply>) -> Result<String, String> {
    let Some(r) = reply else {
        return Err("no answer (connection closed)".into());
    };
    if !(400..500).contains(&r.status) {
        return Err(format!(
            "status {} body {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    if matches!(c.want, Want::ParserReject) {
        return Ok(format!("{} from the HTTP parser", r.status));
    }
    let Some(body) = r.json() else {
        return Err(format!(
            "status {} without a JSON body: {:?}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    };
    let (Some(code), Some(_)) = (body["error"].as_str(), body["message"].as_str()) else {
        return Err(format!(
            "status {} body lacks error/message: {body}",
            r.status
        ));
    };
    if let Want::Code(status, want) = c.want
        && (r.status, code) != (status, want)
    {
        return Err(format!(
            "expected {status} {want}, got {} {code}: {body}",
            r.status
        ));
    }
    Ok(format!("{} {code}", r.status))
}
