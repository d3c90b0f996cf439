//! Text to HTML: escaping, and the little Markdown the contract's descriptions use.

use std::fmt::Write;

/// HTML-escapes text (element content and attribute values).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Inline markdown of the spec's descriptions: `code` and [text](link) (the link text only:
/// the spec's links are relative to docs/, which the stack does not serve).
pub(super) fn inline(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(['`', '[']) {
        out.push_str(&esc(&rest[..i]));
        let tail = &rest[i..];
        if let Some(code) = tail.strip_prefix('`')
            && let Some(end) = code.find('`')
        {
            let _ = write!(out, "<code>{}</code>", esc(&code[..end]));
            rest = &code[end + 1..];
            continue;
        }
        if let Some(link) = tail.strip_prefix('[')
            && let Some(end) = link.find("](")
            && let Some(close) = link[end..].find(')')
        {
            out.push_str(&esc(&link[..end]));
            rest = &link[end + close + 1..];
            continue;
        }
        out.push_str(&esc(&tail[..1]));
        rest = &tail[1..];
    }
    out.push_str(&esc(rest));
    out
}

/// Block markdown: paragraphs (blank-line separated) and `- ` lists (continuation lines indented).
pub(super) fn markdown(s: &str) -> String {
    let mut out = String::new();
    for block in s.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        if block.starts_with("- ") {
            let mut items: Vec<String> = Vec::new();
            let mut head = String::new();
            for line in block.lines() {
                if let Some(item) = line.strip_prefix("- ") {
                    items.push(item.trim().to_owned());
                } else if let Some(last) = items.last_mut() {
                    last.push(' ');
                    last.push_str(line.trim());
                } else {
                    head.push_str(line.trim());
                    head.push(' ');
                }
            }
            if !head.is_empty() {
                let _ = write!(out, "<p>{}</p>", inline(head.trim()));
            }
            out.push_str("<ul>");
            for i in items {
                let _ = write!(out, "<li>{}</li>", inline(&i));
            }
            out.push_str("</ul>");
        } else {
            // A paragraph that ends in a list ("Conventions ...:\n- a\n- b").
            match block.find("\n- ") {
                Some(at) => {
                    let _ = write!(out, "<p>{}</p>", inline(&block[..at].replace('\n', " ")));
                    out.push_str(&markdown(&block[at + 1..]));
                }
                None => {
                    let _ = write!(out, "<p>{}</p>", inline(&block.replace('\n', " ")));
                }
            }
        }
    }
    out
}
