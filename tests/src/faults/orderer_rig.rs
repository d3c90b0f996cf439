//! The real `factory-orderer`, fed SQS records by the test.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_lambda_events::sqs::SqsMessage;
use factory_orderer::client::{FactoryClient, FactorySettings};
use factory_orderer::orderer::Orderer;
use inventory::domain::StockOutEvent;
use inventory::factory::CallbackSigner;

use super::{FaultyStore, sqs_message};
use crate::{Db, Options, TestApp};

/// The local stack plus a second `factory-orderer` (the real handler) whose SQS batches the
/// test builds, over a [`FaultyStore`] on the stack's database, calling the stack's factory
/// stand-in. Stock-outs are intercepted before the stack's own queue sees them.
pub struct OrdererRig {
    pub app: TestApp,
    /// The orderer's store: the stack's database, with faults to switch on.
    pub faulty: Arc<FaultyStore>,
    pub orderer: Orderer,
}

impl OrdererRig {
    pub async fn spawn(db: Db, tweak: impl FnOnce(&mut Options)) -> OrdererRig {
        let app = TestApp::spawn_with(db, tweak).await;
        let faulty = FaultyStore::new(app.store().clone());
        let factory = FactoryClient::new(
            FactorySettings {
                base_url: format!("{}/factory-sim", app.stack.base_url),
                factory_id: "donut-factory-1".into(),
                requester: "donut-shop".into(),
                callback_base: app.stack.base_url.clone(),
                timeout: Duration::from_secs(3),
            },
            CallbackSigner::new("test-callback-secret"),
        )
        .expect("factory client");
        let orderer = Orderer {
            store: faulty.clone(),
            factory,
            max_receive_count: 5,
        };
        OrdererRig {
            app,
            faulty,
            orderer,
        }
    }

    /// A stock-out whose event the test delivers itself: the topic is down (the stack's queue
    /// never sees it) and the outbox row is marked published (the relay leaves it alone).
    pub async fn intercepted_stock_out(
        &self,
        sku: &str,
        stock: i64,
        reorder_quantity: i64,
    ) -> (String, StockOutEvent) {
        self.app.shared().topic.down.store(true, Ordering::SeqCst);
        let id = self.app.stock_out(sku, stock, reorder_quantity).await;
        let entry = self
            .app
            .store()
            .unpublished(i64::MAX, 100)
            .await
            .expect("outbox listing")
            .into_iter()
            .find(|e| e.payload.contains(&id))
            .expect("the stock-out is in the outbox");
        self.app
            .store()
            .mark_published(&entry.id)
            .await
            .expect("mark published");
        let event = serde_json::from_str(&entry.payload).expect("the outbox holds a stock-out");
        (id, event)
    }

    /// One delivery of `event` (message id `id`, the `receive_count`-th receive).
    pub fn message(id: &str, event: &StockOutEvent, receive_count: u32) -> SqsMessage {
        sqs_message(id, Some(&event_body(event)), receive_count)
    }

    pub async fn stop(self) -> tempfile::TempDir {
        self.app.stop().await
    }
}

/// An event as the topic delivers it (the SQS body).
pub fn event_body(e: &StockOutEvent) -> String {
    serde_json::to_string(e).expect("a stock-out event serialises")
}
