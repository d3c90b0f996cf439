//! Section 2: stock-out pipeline latency on the local stack.

use super::Report;
use crate::stats::fmt_ms;
use std::fmt::Write;

impl Report<'_> {
    pub(super) fn pipeline_details(&self, s: &mut String) {
        if self.pipelines.is_empty() {
            return;
        }
        let _ = writeln!(s, "\n## 2. Stock-out pipeline latency (local stack)\n");
        let _ = writeln!(
            s,
            "`Options::for_tests` timers (relay 200 ms, visibility timeout 200 ms, outbox grace 1 s), capture on. K products of stock 1 (reorder point 0) are sold out one after the other; each stock-out sale opens a factory order which travels outbox publish → local topic → queue → factory-orderer poller → factory stand-in (HTTP, same process) → `mark_requested`. **Stock-out → factory accepted** is the order's own transitions, `pending.at` (taken when the sale's transaction starts) → `requested.at` (written after the factory answered 202), database clock, 1 ms resolution. Also shown: sale response → order observed `requested` by polling `GET /factory-orders/{{id}}` every 1 ms (client clock). The stand-in is told never to call back (huge delay); **callback → stock visible** is from POSTing the signed completion to the order's callback URL (`CallbackSigner::callback_url`, as the factory would) until `GET /inventory/{{sku}}` shows the restocked stock. With n samples, p99 is the largest but one only when n ≥ 100.\n"
        );
        let _ = writeln!(
            s,
            "| backend | n | figure | p50 | p99 | max |\n|---|---|---|---|---|---|"
        );
        for p in self.pipelines {
            for (name, l) in [
                ("stock-out sale (POST /sales, 201)", &p.stockout_sale),
                (
                    "stock-out → factory accepted (pending.at → requested.at)",
                    &p.commit_to_accepted,
                ),
                (
                    "sale response → `requested` observed",
                    &p.response_to_requested,
                ),
                ("callback POST answered", &p.callback),
                ("callback → stock visible", &p.callback_to_visible),
            ] {
                let _ = writeln!(
                    s,
                    "| {} | {} | {name} | {} | {} | {} |",
                    p.backend,
                    l.n,
                    fmt_ms(l.p50_ms),
                    fmt_ms(l.p99_ms),
                    fmt_ms(l.max_ms)
                );
            }
        }
    }
}
