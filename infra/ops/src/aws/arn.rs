//! Lambda function ARNs, as the failure records name them and as an invocation is addressed.

/// `arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]`.
#[derive(Debug, PartialEq, Eq)]
pub struct FunctionArn {
    pub partition: String,
    pub region: String,
    pub name: String,
    pub qualifier: Option<String>,
}
impl FunctionArn {
    pub fn parse(arn: &str) -> Result<Self, String> {
        let parts: Vec<&str> = arn.split(':').collect();
        let ok_name = |n: &str| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        };
        match parts.as_slice() {
            [
                "arn",
                partition,
                "lambda",
                region,
                _account,
                "function",
                name,
                rest @ ..,
            ] if ok_name(name) && rest.len() <= 1 => {
                let qualifier = rest
                    .first()
                    .filter(|q| **q != "$LATEST")
                    .map(|q| q.to_string());
                if qualifier.as_deref().is_some_and(|q| !ok_name(q)) {
                    return Err(format!("{arn}: unexpected qualifier"));
                }
                Ok(FunctionArn {
                    partition: partition.to_string(),
                    region: region.to_string(),
                    name: name.to_string(),
                    qualifier,
                })
            }
            _ => Err(format!("{arn} is not a Lambda function ARN")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FunctionArn;

    #[test]
    fn function_arns() {
        let f = FunctionArn::parse(
            "arn:aws:lambda:eu-west-1:123456789012:function:stack-OutboxRelay-AbC1:$LATEST",
        )
        .unwrap();
        assert_eq!(
            (f.region.as_str(), f.name.as_str(), f.qualifier),
            ("eu-west-1", "stack-OutboxRelay-AbC1", None)
        );
        let f =
            FunctionArn::parse("arn:aws:lambda:us-east-1:123456789012:function:f:live").unwrap();
        assert_eq!(f.qualifier.as_deref(), Some("live"));
        assert!(FunctionArn::parse("arn:aws:sqs:us-east-1:123456789012:q").is_err());
        assert!(FunctionArn::parse("arn:aws:lambda:us-east-1:1:function:a/../b").is_err());
    }
}
