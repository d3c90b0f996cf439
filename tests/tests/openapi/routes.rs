//! The spec's public paths and methods against the router table (`inventory::api::ROUTES`).

use crate::spec::{operations, resolve, spec};
use inventory::api::{ROUTES, match_route};
use serde_json::Value;
use std::collections::BTreeSet;

#[test]
fn public_paths_and_methods_are_exactly_the_router_table() {
    let spec = spec();
    let ops = operations(&spec);
    let in_spec: BTreeSet<(String, String)> = ops
        .iter()
        .filter(|o| !o.local_only)
        .map(|o| (o.path.clone(), o.method.clone()))
        .collect();
    let in_router: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.path.to_owned(), r.method.to_owned()))
        .collect();
    assert_eq!(
        in_spec,
        in_router,
        "docs/openapi.yaml (public operations) vs inventory::api::ROUTES\n only in the spec: {:?}\n only in ROUTES: {:?}",
        in_spec.difference(&in_router).collect::<Vec<_>>(),
        in_router.difference(&in_spec).collect::<Vec<_>>()
    );
    // Local-only operations must not shadow (or be shadowed by) a public route.
    for o in ops.iter().filter(|o| o.local_only) {
        assert_eq!(
            match_route(&o.path),
            None,
            "local-only {} {} collides with a public route",
            o.method,
            o.path
        );
        assert!(
            o.path.starts_with("/ops/") || o.path.starts_with("/factory-sim/"),
            "local-only {} is not under a local-only prefix",
            o.path
        );
    }
    // Path parameters are declared for every template parameter.
    for o in ops.iter().filter(|o| o.path.contains('{')) {
        let name = o.path.split('{').nth(1).and_then(|s| s.split('}').next());
        let params: Vec<&Value> = o.op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&spec, p))
            .collect();
        assert!(
            params
                .iter()
                .any(|p| p["in"] == "path" && p["name"].as_str() == name && p["required"] == true),
            "{} {}: path parameter {name:?} not declared",
            o.method,
            o.path
        );
    }
}
