//! The orderer against the in-memory store and the factory stand-in
//! (`factory_sim::sim::FactorySim`) served on 127.0.0.1, as the local stack serves it: what one
//! stock-out message does to its factory order when the factory accepts, fails, or the message
//! is poison. Milliseconds, no database, no AWS (the same handler runs over SQLite and MariaDB in `tests/tests/faults/`).

use super::*;
use crate::client::FactorySettings;
use factory_sim::sim::{Completions, FactorySim, Knobs, KnobsPatch, ScheduledCompletion};
use inventory::domain::{FactoryOrderId, OrderStatus};
use inventory::factory::CallbackSigner;
use inventory::store::MemoryStore;
use inventory::store::memory::fixtures::stocked_out;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

const CALLBACK_BASE: &str = "http://127.0.0.1:9/";
const MAX_RECEIVES: u32 = 3;

/// The factory stand-in ([`FactorySim::manufacture`]) served on 127.0.0.1, as the local stack
/// serves it at `/factory-sim`; the completions it would send are recorded, not sent.
struct Factory {
    sim: Arc<FactorySim>,
    url: String,
    scheduled: Arc<Recorded>,
}

/// The completions the factory scheduled.
#[derive(Default)]
struct Recorded(Mutex<Vec<ScheduledCompletion>>);

impl Completions for Recorded {
    async fn schedule(&self, item: ScheduledCompletion, _delay: Duration) -> Result<(), String> {
        self.0.lock().map_err(|e| e.to_string())?.push(item);
        Ok(())
    }
}

impl Factory {
    async fn start(knobs: Knobs) -> Factory {
        let sim = Arc::new(FactorySim::new(knobs));
        let scheduled = Arc::new(Recorded::default());
        let (s, q) = (sim.clone(), scheduled.clone());
        let app = axum::Router::new().route(
            "/api/manufactures",
            axum::routing::post(move |body: axum::body::Bytes| async move {
                let reply = s.manufacture(Ok(&body), &*q).await;
                let status = axum::http::StatusCode::from_u16(reply.status).unwrap();
                (status, axum::Json(reply.body))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Factory {
            sim,
            url,
            scheduled,
        }
    }

    fn requests(&self) -> u64 {
        self.sim.requests.load(Ordering::SeqCst)
    }

    fn batches(&self) -> u64 {
        self.sim.batches.load(Ordering::SeqCst)
    }
}

fn orderer(store: &Arc<MemoryStore>, factory: &Factory) -> Orderer {
    let settings = FactorySettings {
        base_url: factory.url.clone(),
        factory_id: "donut-factory-1".into(),
        requester: "donut-shop".into(),
        callback_base: CALLBACK_BASE.into(),
        timeout: Duration::from_secs(5),
    };
    Orderer {
        store: store.clone(),
        factory: FactoryClient::new(settings, CallbackSigner::new("unit-callback-secret"))
            .expect("a factory client"),
        max_receive_count: MAX_RECEIVES,
    }
}

/// An SQS record as Lambda hands it to the orderer, on its `receives`-th delivery.
fn message(id: &str, body: &str, receives: u32) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.to_owned());
    m.body = Some(body.to_owned());
    m.attributes = HashMap::from([("ApproximateReceiveCount".to_owned(), receives.to_string())]);
    m
}

fn batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = records;
    e
}

/// The message ids the batch response reports failed (SQS retries only these).
fn failed(r: &SqsBatchResponse) -> BTreeSet<String> {
    r.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

async fn order(store: &MemoryStore, id: &FactoryOrderId) -> inventory::domain::FactoryOrder {
    store
        .factory_order(id)
        .await
        .unwrap()
        .expect("the order exists")
}

#[tokio::test]
async fn an_accepting_factory_moves_the_order_to_requested_with_its_reference() {
    let factory = Factory::start(Knobs::default()).await;
    let (store, event) = stocked_out().await;
    let o = orderer(&store, &factory);
    let id = event.factory_order_id.clone();
    let body = serde_json::to_string(&event).unwrap();

    let res = handle_batch(&o, batch(vec![message("m1", &body, 1)])).await;
    assert!(failed(&res).is_empty(), "{res:?}");
    let requested = order(&store, &id).await;
    assert_eq!(requested.status, OrderStatus::Requested);
    assert_eq!(requested.attempts, 1);
    assert_eq!(
        requested.last_event_id.as_ref().map(|e| e.as_str()),
        Some(event.event_id.as_str())
    );
    let reference = requested
        .factory_ref
        .clone()
        .expect("the factory's reference");
    assert!(reference.starts_with("sim-"), "{reference}");
    assert_eq!((factory.requests(), factory.batches()), (1, 1));
    // The factory will call back for this order, with the order's quantity.
    let scheduled = factory.scheduled.0.lock().unwrap().clone();
    assert_eq!(scheduled.len(), 1);
    let signer = CallbackSigner::new("unit-callback-secret");
    assert!(
        scheduled[0].callback_url.starts_with(&signer.callback_url(
            CALLBACK_BASE,
            id.as_str(),
            event.correlation_id.as_str()
        )),
        "{}",
        scheduled[0].callback_url
    );
    assert_eq!(
        scheduled[0].completion.message_group_id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(scheduled[0].completion.product_cnt, event.quantity);

    // SQS delivers the same message again: acknowledged without calling the factory.
    let again = handle_record(&o, &message("m1", &body, 2)).await;
    assert!(matches!(again, Ok(Handled::Skipped(_))), "{again:?}");
    assert_eq!(factory.requests(), 1);
    assert_eq!(order(&store, &id).await, requested);
}

#[tokio::test]
async fn a_failing_factory_is_recorded_and_the_message_retried_until_the_last_receive() {
    let factory = Factory::start(Knobs {
        failure_rate: 1.0,
        ..Knobs::default()
    })
    .await;
    let (store, event) = stocked_out().await;
    let o = orderer(&store, &factory);
    let id = event.factory_order_id.clone();
    let body = serde_json::to_string(&event).unwrap();

    // A 500: reported as a batch item failure, so SQS delivers it again; the order stays open.
    let res = handle_batch(&o, batch(vec![message("m1", &body, 1)])).await;
    assert_eq!(failed(&res), BTreeSet::from(["m1".to_owned()]));
    let pending = order(&store, &id).await;
    assert_eq!(pending.status, OrderStatus::Pending);
    assert_eq!(pending.attempts, 1);
    let error = pending.last_error.clone().unwrap_or_default();
    assert!(error.contains("500"), "{error}");
    assert_eq!(pending.factory_ref, None);

    // The last receive (maxReceiveCount): the order fails before the message goes to the DLQ.
    let res = handle_batch(&o, batch(vec![message("m1", &body, MAX_RECEIVES)])).await;
    assert_eq!(failed(&res), BTreeSet::from(["m1".to_owned()]));
    let failed_order = order(&store, &id).await;
    assert_eq!(failed_order.status, OrderStatus::Failed);
    assert_eq!(failed_order.attempts, 2);
    assert_eq!((factory.requests(), factory.batches()), (2, 0));

    // The factory is back and the message is redriven: the order reopens and is requested.
    factory.sim.set(KnobsPatch {
        failure_rate: Some(0.0),
        ..KnobsPatch::default()
    });
    let res = handle_batch(&o, batch(vec![message("m1", &body, 1)])).await;
    assert!(failed(&res).is_empty(), "{res:?}");
    let requested = order(&store, &id).await;
    assert_eq!(requested.status, OrderStatus::Requested);
    assert!(requested.factory_ref.is_some());
    assert_eq!(factory.batches(), 1);
}

#[tokio::test]
async fn poison_messages_fail_alone_and_change_nothing() {
    let factory = Factory::start(Knobs::default()).await;
    let (store, event) = stocked_out().await;
    let o = orderer(&store, &factory);
    let id = event.factory_order_id.clone();
    let before = order(&store, &id).await;
    let mut unknown = event.clone();
    unknown.factory_order_id = FactoryOrderId::new();
    let mut other_quantity = event.clone();
    other_quantity.quantity += 1;
    let poison = [
        ("not-json", "not json".to_owned()),
        ("empty", "{}".to_owned()),
        ("unknown-order", serde_json::to_string(&unknown).unwrap()),
        (
            "other-quantity",
            serde_json::to_string(&other_quantity).unwrap(),
        ),
    ];

    let res = handle_batch(
        &o,
        batch(poison.iter().map(|(m, b)| message(m, b, 1)).collect()),
    )
    .await;
    assert_eq!(
        failed(&res),
        poison.iter().map(|(m, _)| (*m).to_owned()).collect()
    );
    assert_eq!(order(&store, &id).await, before, "the order is untouched");
    assert_eq!(factory.requests(), 0, "the factory was never called");

    // In a batch with the genuine message, the poison fails alone.
    let mut records: Vec<SqsMessage> = poison.iter().map(|(m, b)| message(m, b, 2)).collect();
    records.push(message("good", &serde_json::to_string(&event).unwrap(), 1));
    let res = handle_batch(&o, batch(records)).await;
    assert!(!failed(&res).contains("good"), "{res:?}");
    assert_eq!(failed(&res).len(), poison.len());
    assert_eq!(order(&store, &id).await.status, OrderStatus::Requested);
    assert_eq!(factory.batches(), 1);
}
