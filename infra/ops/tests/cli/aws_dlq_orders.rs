//! `--aws` against moto and a database file: `dlq list`/`redrive`, `alarms`, `orders list`/
//! `retry`, and the usage errors when a setting is missing.

use crate::common::{create_queue, ops};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_mode_on_moto() {
    use inventory::domain::{Quantity, SaleRequest, Sku};
    use inventory::store::SaleOutcome;
    let sdk = pipeline_tests::moto_sdk().await;
    let endpoint = pipeline_tests::moto_endpoint();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let dlq_url = create_queue(&sqs, format!("ops-dlq-{tag}")).await;
    let sub_url = create_queue(&sqs, format!("ops-sub-{tag}")).await;
    let sub_arn = sqs
        .get_queue_attributes()
        .queue_url(&sub_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let topic = sns
        .create_topic()
        .name(format!("ops-topic-{tag}"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&sub_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();

    // A database with a failed order, and its stock-out in the DLQ.
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}?mode=rwc", dir.path().join("ops.db").display());
    let store = inventory::store::connect(&db_url, &Default::default()).unwrap();
    store.migrate().await.unwrap();
    let sku = Sku::parse("maple").unwrap();
    let spec = inventory::domain::ProductSpec::new(sku.clone(), None, 1, None, Some(10)).unwrap();
    store.put_product(&spec).await.unwrap();
    let SaleOutcome::Sold {
        event: Some(event), ..
    } = store
        .sell(&SaleRequest {
            sku,
            quantity: Quantity::new(1).unwrap(),
            idempotency_key: None,
            correlation_id: "cli-aws".into(),
        })
        .await
        .unwrap()
    else {
        panic!("a stock-out")
    };
    let id = event.factory_order_id.clone();
    store
        .record_failure(&id, "factory failed with 503: down", true)
        .await
        .unwrap();
    let mut send = sqs
        .send_message()
        .queue_url(&dlq_url)
        .message_body(serde_json::to_string(&event).unwrap());
    for (k, v) in inventory::messaging::attributes(&event) {
        send = send.message_attributes(
            k,
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .unwrap(),
        );
    }
    send.send().await.unwrap();

    let aws_env = [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let with_db: Vec<(&str, &str)> = aws_env
        .iter()
        .copied()
        .chain([("DATABASE_URL", db_url.as_str())])
        .collect();

    // Without the database: decoded, not explained.
    let out = ops(
        &["--aws", "--dlq-url", &dlq_url, "dlq", "list", "-o", "json"],
        &aws_env,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["messages"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["messages"][0]["factory_order_id"], id.as_str());
    assert_eq!(v["messages"][0]["attributes"]["correlation_id"], "cli-aws");
    assert!(
        v["messages"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("DATABASE_URL")
    );
    // With it: the order's state and last error. The message is still there (not consumed).
    let out = ops(&["--aws", "--dlq-url", &dlq_url, "dlq", "list"], &with_db).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("is failed after 1 attempt(s)"),
        "{}",
        out.stdout
    );
    let out = ops(
        &[
            "--aws",
            "--dlq-url",
            &dlq_url,
            "alarms",
            "--check",
            "-o",
            "json",
        ],
        &with_db,
    )
    .await;
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    let alarms = out.json()["alarms"].as_array().cloned().unwrap();
    assert_eq!(alarms.len(), 2, "{alarms:?}");
    assert!(alarms.iter().all(|a| a["state"] == "ALARM"), "{alarms:?}");

    let out = ops(&["--aws", "orders", "list", "--status", "failed"], &with_db).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(id.as_str()), "{}", out.stdout);

    // Retry: reopened and published to the topic (same order id, same correlation id).
    let out = ops(
        &[
            "--aws",
            "--topic-arn",
            &topic,
            "orders",
            "retry",
            id.as_str(),
            "-o",
            "json",
        ],
        &with_db,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["factory_order"]["status"], "pending");
    let got = sqs
        .receive_message()
        .queue_url(&sub_url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    let body = got.messages()[0].body().unwrap();
    let ev = inventory::stockout::decode(body).unwrap();
    assert_eq!(ev.factory_order_id, id);
    assert_eq!(ev.correlation_id, "cli-aws");
    assert_ne!(ev.event_id, event.event_id, "a new event");

    // Redrive: StartMessageMoveTask (moto may not implement it: then a clear error).
    let out = ops(
        &[
            "--aws",
            "--dlq-url",
            &dlq_url,
            "dlq",
            "redrive",
            "-o",
            "json",
        ],
        &aws_env,
    )
    .await;
    if out.code == 0 {
        assert!(out.json()["task_handle"].is_string(), "{}", out.stdout);
    } else {
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains("sqs:StartMessageMoveTask"),
            "{}",
            out.stderr
        );
    }
    // Missing configuration: a usage error naming what is missing.
    let out = ops(&["--aws", "dlq", "list"], &aws_env).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("FactoryOrdersDlqUrl"), "{}", out.stderr);
    let out = ops(&["--aws", "orders", "list"], &aws_env).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("DATABASE_URL"), "{}", out.stderr);
}
