//! `deployments` against recorded CloudFormation and CodeDeploy answers (aws-smithy-mocks):
//! moto's CodeDeploy keeps every deployment `Created`, with no error information and no
//! rollback, so what an operator needs after a rollback can only be shown this way. The answers
//! are shaped as CodeDeploy gives them for a CloudFormation-driven Lambda deployment (AppSpec
//! content with `CurrentVersion`/`TargetVersion`, `ALARM_ACTIVE` naming the alarm).

use super::stack_deployments;
use aws_sdk_cloudformation::operation::list_stack_resources::ListStackResourcesOutput;
use aws_sdk_cloudformation::types::StackResourceSummary;
use aws_sdk_codedeploy::operation::batch_get_deployments::BatchGetDeploymentsOutput;
use aws_sdk_codedeploy::operation::list_deployments::ListDeploymentsOutput;
use aws_sdk_codedeploy::primitives::DateTime;
use aws_sdk_codedeploy::types::{
    AppSpecContent, DeploymentCreator, DeploymentInfo, DeploymentStatus, ErrorCode,
    ErrorInformation, RevisionLocation, RevisionLocationType, RollbackInfo,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use serde_json::Value;

const STACK: &str = "donut-pipeline";
const APP: &str = "donut-pipeline-ServerlessDeploymentApplication-1Q2W3E";
const SALES_GROUP: &str = "donut-pipeline-SalesApiFunctionDeploymentGroup-4R5T6Y";
const ORDERER_GROUP: &str = "donut-pipeline-FactoryOrdererFunctionDeploymentGroup-7U8I9O";
const SALES_ALARM: &str = "donut-pipeline-SalesApiCanaryErrorsAlarm-AB12CD34EF56";

fn resource(logical: &str, physical: &str, ty: &str) -> StackResourceSummary {
    StackResourceSummary::builder()
        .logical_resource_id(logical)
        .physical_resource_id(physical)
        .resource_type(ty)
        .last_updated_timestamp(DateTime::from_secs(0))
        .resource_status(aws_sdk_cloudformation::types::ResourceStatus::UpdateComplete)
        .build()
}

fn cloudformation(with_codedeploy: bool) -> aws_sdk_cloudformation::Client {
    let rule = mock!(aws_sdk_cloudformation::Client::list_stack_resources).then_output(move || {
        let mut out = vec![
            resource(
                "SalesApiCanaryErrorsAlarm",
                SALES_ALARM,
                "AWS::CloudWatch::Alarm",
            ),
            resource(
                "HttpApiCanary5xxAlarm",
                "donut-pipeline-HttpApiCanary5xxAlarm-QQ",
                "AWS::CloudWatch::Alarm",
            ),
            resource(
                "SalesApiFunction",
                "donut-pipeline-SalesApiFunction-x",
                "AWS::Lambda::Function",
            ),
        ];
        if with_codedeploy {
            out.push(resource(
                "ServerlessDeploymentApplication",
                APP,
                "AWS::CodeDeploy::Application",
            ));
            out.push(resource(
                "SalesApiFunctionDeploymentGroup",
                SALES_GROUP,
                "AWS::CodeDeploy::DeploymentGroup",
            ));
            out.push(resource(
                "FactoryOrdererFunctionDeploymentGroup",
                ORDERER_GROUP,
                "AWS::CodeDeploy::DeploymentGroup",
            ));
        }
        ListStackResourcesOutput::builder()
            .set_stack_resource_summaries(Some(out))
            .build()
    });
    mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&rule])
}

fn appspec(from: &str, to: &str) -> RevisionLocation {
    let content = format!(
        r#"{{"version":0.0,"Resources":[{{"SalesApiFunction":{{"Type":"AWS::Lambda::Function","Properties":{{"Name":"donut-pipeline-SalesApiFunction-x","Alias":"live","CurrentVersion":"{from}","TargetVersion":"{to}"}}}}}}]}}"#
    );
    RevisionLocation::builder()
        .revision_type(RevisionLocationType::AppSpecContent)
        .app_spec_content(AppSpecContent::builder().content(content).build())
        .build()
}

/// The deployments CodeDeploy knows, by id.
fn info(id: &str) -> DeploymentInfo {
    let base = |minute: i64, status: DeploymentStatus| {
        DeploymentInfo::builder()
            .deployment_id(id)
            .application_name(APP)
            .status(status)
            .deployment_config_name("CodeDeployDefault.LambdaCanary10Percent5Minutes")
            .create_time(DateTime::from_secs(1_796_000_000 + minute * 60))
            .complete_time(DateTime::from_secs(1_796_000_000 + minute * 60 + 330))
    };
    match id {
        // The release before: shifted, all fine.
        "d-OLD000001" => base(0, DeploymentStatus::Succeeded)
            .deployment_group_name(SALES_GROUP)
            .creator(DeploymentCreator::User)
            .revision(appspec("1", "2"))
            .build(),
        // The bad release: its errors alarm fired during the canary.
        "d-BAD000002" => base(60, DeploymentStatus::Stopped)
            .deployment_group_name(SALES_GROUP)
            .creator(DeploymentCreator::User)
            .revision(appspec("2", "3"))
            .error_information(
                ErrorInformation::builder()
                    .code(ErrorCode::AlarmActive)
                    .message(format!(
                        "One or more alarms have been activated according to the Amazon CloudWatch metrics you selected, and the affected deployments have been stopped. Activated alarms: <{SALES_ALARM}>"
                    ))
                    .build(),
            )
            .rollback_info(
                RollbackInfo::builder()
                    .rollback_deployment_id("d-RBK000003")
                    .rollback_message("Automatic rollback triggered by the alarm")
                    .build(),
            )
            .build(),
        // CodeDeploy's rollback of it: the alias back to version 2.
        "d-RBK000003" => base(62, DeploymentStatus::Succeeded)
            .deployment_group_name(SALES_GROUP)
            .creator(DeploymentCreator::CodeDeployRollback)
            .revision(appspec("3", "2"))
            .rollback_info(RollbackInfo::builder().rollback_triggering_deployment_id("d-BAD000002").build())
            .build(),
        // The orderer's update in the same release: its pre-traffic hook failed.
        _ => base(61, DeploymentStatus::Failed)
            .deployment_group_name(ORDERER_GROUP)
            .creator(DeploymentCreator::User)
            .error_information(
                ErrorInformation::builder()
                    .code(ErrorCode::HookExecutionFailure)
                    .message("The deployment failed because one or more of the lifecycle event hooks failed")
                    .build(),
            )
            .build(),
    }
}

fn codedeploy() -> aws_sdk_codedeploy::Client {
    let list = mock!(aws_sdk_codedeploy::Client::list_deployments).then_compute_output(|input| {
        assert_eq!(input.application_name(), Some(APP));
        let ids: &[&str] = match input.deployment_group_name() {
            Some(SALES_GROUP) => &["d-RBK000003", "d-BAD000002", "d-OLD000001"],
            _ => &["d-ORD000004"],
        };
        ListDeploymentsOutput::builder()
            .set_deployments(Some(ids.iter().map(|s| (*s).to_owned()).collect()))
            .build()
    });
    let get =
        mock!(aws_sdk_codedeploy::Client::batch_get_deployments).then_compute_output(|input| {
            BatchGetDeploymentsOutput::builder()
                .set_deployments_info(Some(
                    input.deployment_ids().iter().map(|id| info(id)).collect(),
                ))
                .build()
        });
    mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, [&list, &get])
}

#[tokio::test]
async fn a_rollback_shows_the_deployment_the_alarm_that_stopped_it_and_the_rollback() {
    let v = stack_deployments(&cloudformation(true), &codedeploy(), STACK, 5)
        .await
        .unwrap();
    assert_eq!(v["application"], APP);
    assert_eq!(v["count"], 4);
    assert_eq!(v["stopped"], 2);
    let d: &Vec<Value> = v["deployments"].as_array().unwrap();
    // Functions in order, newest first within each.
    let ids: Vec<&str> = d
        .iter()
        .map(|x| x["deployment_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["d-ORD000004", "d-RBK000003", "d-BAD000002", "d-OLD000001"]
    );
    let bad = &d[2];
    assert_eq!(bad["function"], "SalesApiFunction");
    assert_eq!(bad["status"], "Stopped");
    assert_eq!(bad["config"], "Canary10Percent5Minutes");
    assert_eq!(bad["versions"], "2 -> 3");
    assert_eq!(
        bad["stopped_by"],
        serde_json::json!(["SalesApiCanaryErrorsAlarm"])
    );
    assert_eq!(bad["why"], "stopped by alarm SalesApiCanaryErrorsAlarm");
    assert_eq!(bad["rollback_deployment_id"], "d-RBK000003");
    let rollback = &d[1];
    assert_eq!(rollback["creator"], "codeDeployRollback");
    assert_eq!(rollback["rolls_back"], "d-BAD000002");
    assert_eq!(rollback["versions"], "3 -> 2");
    assert_eq!(rollback["why"], "the rollback of d-BAD000002");
    assert!(
        d[0]["why"]
            .as_str()
            .unwrap()
            .starts_with("the pre-traffic hook reported Failed")
    );
    assert_eq!(d[0]["function"], "FactoryOrdererFunction");

    let text = crate::render::deployments(&crate::render::view(&v).unwrap(), false);
    eprintln!("{text}");
    assert!(
        text.starts_with("stack donut-pipeline: 4 deployment(s), 2 stopped or failed\n"),
        "{text}"
    );
    assert!(text.contains("d-BAD000002 (SalesApiFunction): stopped by alarm SalesApiCanaryErrorsAlarm; rolled back by d-RBK000003"), "{text}");
    assert!(text.contains(&format!("CodeDeploy: One or more alarms have been activated according to the Amazon CloudWatch metrics you selected, and the affected deployments have been stopped. Activated alarms: <{SALES_ALARM}>")), "{text}");
    let header = text.lines().nth(1).unwrap();
    for col in [
        "FUNCTION",
        "DEPLOYMENT",
        "STATUS",
        "CONFIG",
        "VERSIONS",
        "STARTED",
        "ENDED",
        "WHY",
    ] {
        assert!(header.contains(col), "{header}");
    }
}

#[tokio::test]
async fn max_keeps_the_newest_per_function() {
    let v = stack_deployments(&cloudformation(true), &codedeploy(), STACK, 1)
        .await
        .unwrap();
    let ids: Vec<&str> = v["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["deployment_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["d-ORD000004", "d-RBK000003"]);
}

#[tokio::test]
async fn a_stack_without_gradual_deployments_says_so() {
    // No CodeDeploy call is made: the client has no rules.
    let none: [&aws_smithy_mocks::Rule; 0] = [];
    let cd = mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, none);
    let v = stack_deployments(&cloudformation(false), &cd, STACK, 5)
        .await
        .unwrap();
    assert_eq!(v["count"], 0);
    assert!(
        v["note"]
            .as_str()
            .unwrap()
            .contains("no CodeDeploy application")
    );
}
