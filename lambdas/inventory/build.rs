// `sqlx::migrate!` embeds migrations/ at compile time, but on stable Rust it cannot tell cargo
// it read those files: without this, editing a migration leaves a stale one in the binary.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
