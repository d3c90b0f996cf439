//! The stack's custom resource (the migrations): Create over verified TLS, then Update and
//! Delete, each answered as CloudFormation expects.

use lambda_harness::Harness;

/// 1. The stack's custom resource runs the migrations (Create), over TLS.
pub async fn create_runs_the_migrations_over_tls(h: &Harness) {
    h.create_custom_resources()
        .await
        .expect("migrations Create succeeds");
    let ca_line = h
        .logs
        .lines_of(&h.functions["MigrateFunction"].spec.name)
        .into_iter()
        .any(|l| l.contains("VERIFY_IDENTITY"));
    assert!(
        ca_line,
        "migrate verified the database certificate (DB_CA_BUNDLE from the template)"
    );
}

/// 11. The custom resource's Update and Delete are answered too.
pub async fn update_and_delete_are_answered(h: &Harness) {
    let up = h
        .custom_resource("Migrations", "Update")
        .await
        .expect("update");
    assert_eq!(up["Status"], "SUCCESS", "{up}");
    let del = h
        .custom_resource("Migrations", "Delete")
        .await
        .expect("delete");
    assert_eq!(del["Status"], "SUCCESS", "{del}");
}
