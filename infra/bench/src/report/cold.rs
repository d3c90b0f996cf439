//! Section 3: Lambda cold start of every function.

use super::Report;
use crate::stats::fmt_ms;
use std::fmt::Write;

impl Report<'_> {
    pub(super) fn cold_details(&self, s: &mut String) {
        if self.cold.is_empty() {
            return;
        }
        let _ = writeln!(s, "\n## 3. Lambda cold start\n");
        let _ = writeln!(
            s,
            "Each binary is spawned as Lambda would (cleared environment: `AWS_LAMBDA_RUNTIME_API` and the other Lambda variables, `AWS_REGION=us-east-1`, dummy credentials, the union of the functions' configuration from docs/configuration.md, `DATABASE_URL` = a migrated MariaDB database, `AWS_ENDPOINT_URL` = a stand-in so that any AWS call stays on 127.0.0.1) behind the Lambda harness's Runtime API (`lambda_harness::runtime`, as `scripts/harness.sh` runs the deployed functions: `GET /2018-06-01/runtime/invocation/next` with the `Lambda-Runtime-*` headers, `…/response`, `…/error`, `/init/error`). **ready** = spawn → first `GET …/next`; **first answer** = spawn → first `…/response` (or `…/error`); **peak RSS** = `VmHWM` when the function asks for its second event. Each binary is started once unmeasured first (page cache warm: this VM's disk is not Lambda's), then the measured runs interleave the functions; medians. stdout/stderr of each run: `{}`.\n",
            self.target_dir
                .join("bench/coldstart/run-<n>/logs/<function>.log")
                .display()
        );
        let _ = writeln!(
            s,
            "| function | binary | first event | ready (median) | first answer (median) | peak RSS (median) | answers | AWS calls seen by the stand-in |\n|---|---|---|---|---|---|---|---|"
        );
        for f in self.cold {
            let mut answers: Vec<String> = f
                .runs
                .iter()
                .map(|o| {
                    if o.failure.is_some() {
                        "FAILED".into()
                    } else {
                        o.answer.clone()
                    }
                })
                .collect();
            answers.dedup();
            let mut calls: Vec<String> =
                f.runs.iter().flat_map(|o| o.other_calls.clone()).collect();
            calls.sort();
            calls.dedup();
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} | {:.1} MiB | {} | {} |",
                f.binary.name,
                f.binary.kind,
                f.event,
                fmt_ms(f.ready_ms()),
                fmt_ms(f.first_response_ms()),
                f.rss_mib(),
                answers.join(", "),
                if calls.is_empty() {
                    "none".into()
                } else {
                    calls.join("; ")
                }
            );
        }
        let certs = std::fs::read_dir("/etc/ssl/certs")
            .map(|d| d.count())
            .unwrap_or(0);
        let _ = writeln!(
            s,
            "\nNot in these figures: on AWS the functions read their secrets from Secrets Manager during init (`DB_SECRET_ARN`, `ADMIN_TOKEN_SECRET_ARN`, `CALLBACK_SECRET_ARN`: one HTTPS round trip each, TLS handshake included); here `DATABASE_URL`, `ADMIN_TOKEN` and `CALLBACK_SECRET` are given directly. Part of every init is loading the system CA store, which on this machine is `/etc/ssl/certs` ({certs} entries; Lambda's `provided.al2023` has one bundle file)."
        );
        let _ = writeln!(s, "\nEvery run (ready / first answer / VmHWM):\n");
        for f in self.cold {
            let runs: Vec<String> = f
                .runs
                .iter()
                .map(|o| {
                    format!(
                        "{} / {} / {}",
                        o.ready_ms.map(|v| format!("{v:.1}")).unwrap_or("-".into()),
                        o.first_response_ms
                            .map(|v| format!("{v:.1}"))
                            .unwrap_or("-".into()),
                        o.vm_hwm_kib
                            .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                            .unwrap_or("-".into())
                    )
                })
                .collect();
            let _ = writeln!(s, "- `{}`: {} (ms)", f.binary.name, runs.join("; "));
        }
        let bodies: Vec<String> = self
            .cold
            .iter()
            .filter_map(|f| {
                f.runs.first().map(|o| {
                    format!(
                        "- `{}` ({}): `{}`",
                        f.binary.name,
                        o.answer,
                        o.answer_body.replace('`', "'")
                    )
                })
            })
            .collect();
        let _ = writeln!(
            s,
            "\nFirst answers (run 1, truncated):\n\n{}",
            bodies.join("\n")
        );
    }
}
