//! [`TestApp`]: what almost every end-to-end test starts with — the local stack on a fresh
//! database (SQLite in a temp dir, or a fresh MariaDB database), its temp dir, and an HTTP
//! client with typed helpers ([`Client`]; `TestApp` derefs to it, so `app.sell("glazed", 2)`,
//! `app.put_product(..)`, `app.inventory("glazed")`, `app.wait_status(&id, "fulfilled")`).
//!
//! ```text
//! let app = TestApp::spawn_with(db, |o| o.factory_delay_ms = 100).await;
//! let id = app.stock_out("glazed", 2, 20).await;
//! app.wait_status(&id, "fulfilled").await;
//! app.stop().await;
//! ```

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use inventory::store::DynStore;

use crate::faults::{Expect, ScriptedFactory, check_invariants};
use crate::{Client, Db, Options, Stack};

/// The local stack, its data directory and a client.
pub struct TestApp {
    pub stack: Stack,
    /// Shared with tasks a test spawns (`app.client.clone()`).
    pub client: Arc<Client>,
    dir: tempfile::TempDir,
}

impl TestApp {
    /// The local stack on `db` with the test defaults ([`Options::for_tests`]).
    pub async fn spawn(db: Db) -> TestApp {
        TestApp::spawn_with(db, |_| {}).await
    }

    /// The local stack on `db`; `tweak` adjusts the options (timers, factory knobs, ...).
    pub async fn spawn_with(db: Db, tweak: impl FnOnce(&mut Options)) -> TestApp {
        TestApp::spawn_in(db, tempfile::tempdir().expect("temp dir"), tweak).await
    }

    /// Like [`TestApp::spawn_with`], in a temp dir the test has prepared (files planted in
    /// the data dir before the stack starts).
    pub async fn spawn_in(
        db: Db,
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut Options),
    ) -> TestApp {
        let stack = crate::stack(db, dir.path(), tweak).await;
        let client = Arc::new(Client::new(&stack));
        TestApp { stack, client, dir }
    }

    /// The stack's state: queues, topic, the factory stand-in and its knobs.
    pub fn shared(&self) -> &Arc<devstack::Shared> {
        &self.stack.shared
    }

    /// The stack's store (the same database the handlers use).
    pub fn store(&self) -> &DynStore {
        self.stack.store()
    }

    /// The temp dir the stack keeps its data under.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Distinct batches the built-in factory stand-in accepted.
    pub fn factory_batches(&self) -> Option<u64> {
        Some(self.stack.shared.sim.batches.load(Ordering::SeqCst))
    }

    /// [`check_invariants`] on this stack's database, batches counted by the built-in factory
    /// stand-in.
    pub async fn check(&self, e: &Expect<'_>) -> Vec<String> {
        check_invariants(self.store(), self.factory_batches(), e).await
    }

    /// [`check_invariants`] on this stack's database, batches counted by a [`ScriptedFactory`]
    /// the stack was pointed at (`factory_url`).
    pub async fn check_with(&self, factory: &ScriptedFactory, e: &Expect<'_>) -> Vec<String> {
        let batches = factory.batches.load(Ordering::SeqCst);
        check_invariants(self.store(), Some(batches), e).await
    }

    /// Stops the stack (capture flushed, tasks ended). The returned guard keeps the data dir
    /// until it is dropped, for tests that read what the stack wrote.
    pub async fn stop(self) -> tempfile::TempDir {
        self.stack.stop().await;
        self.dir
    }
}

impl Deref for TestApp {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}
