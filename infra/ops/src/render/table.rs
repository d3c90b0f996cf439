//! Tables (comfy-table): plain when piped, wrapped and coloured on a terminal.
/// Colours on stdout: only on a terminal, and never with `NO_COLOR` set (no-color.org).
pub(crate) fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
/// The colour of a state or status cell: red for what needs a human, yellow for what is not
/// known or not finished, green for fine.
pub(crate) fn state_colour(state: &str) -> Option<comfy_table::Color> {
    use comfy_table::Color;
    match state {
        "ALARM" | "MISSING" | "failed" | "FAILED" | "CANCELLED" => Some(Color::Red),
        "INSUFFICIENT_DATA" | "pending" | "requested" | "stuck" | "RUNNING" => Some(Color::Yellow),
        "OK" | "fulfilled" | "COMPLETED" => Some(Color::Green),
        _ => None,
    }
}
/// A table (comfy-table): columns two spaces apart, no borders. On a terminal it wraps to the
/// terminal's width and colours the `state_columns`; piped it is plain text, one line a row.
pub(crate) fn table(
    headers: &[&str],
    rows: Vec<Vec<String>>,
    state_columns: &[usize],
    colour: bool,
) -> String {
    use comfy_table::{Attribute, Cell, ContentArrangement, Table, presets};
    use std::io::IsTerminal;
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    if std::io::stdout().is_terminal() {
        t.set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        t.force_no_tty();
    }
    if colour {
        t.enforce_styling();
    }
    t.set_header(headers.iter().map(|h| {
        let c = Cell::new(h);
        if colour {
            c.add_attribute(Attribute::Bold)
        } else {
            c
        }
    }));
    for row in rows {
        t.add_row(row.into_iter().enumerate().map(|(i, text)| {
            let c = Cell::new(&text);
            match state_colour(&text) {
                Some(col) if colour && state_columns.contains(&i) => c.fg(col),
                _ => c,
            }
        }));
    }
    let last = headers.len().saturating_sub(1);
    for (i, col) in t.column_iter_mut().enumerate() {
        col.set_padding((0, if i == last { 0 } else { 2 }));
    }
    t.lines().map(|l| l.trim_end().to_owned() + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn plain_and_coloured_tables() {
        let rows = vec![
            vec![
                "FactoryOrdersDlqAlarm".into(),
                "ALARM".into(),
                "1 datapoint".into(),
            ],
            vec!["OrdersFailedAlarm".into(), "OK".into(), "fine".into()],
        ];
        let plain = table(&["ALARM", "STATE", "REASON"], rows.clone(), &[1], false);
        assert_eq!(
            plain,
            "ALARM                  STATE  REASON\n\
             FactoryOrdersDlqAlarm  ALARM  1 datapoint\n\
             OrdersFailedAlarm      OK     fine\n"
        );
        let coloured = table(&["ALARM", "STATE", "REASON"], rows, &[1], true);
        assert!(coloured.contains("\x1b["), "{coloured:?}");
        assert!(coloured.contains("ALARM"), "{coloured:?}");
    }
}
