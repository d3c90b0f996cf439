#!/usr/bin/env python3
"""Cross-check template.yaml against the code and the documented contract.

Usage (from the repository root, with the project venv):
    .venv/bin/python tests/template_check.py [TEMPLATE]             # docs contract + code
    .venv/bin/python tests/template_check.py --contract [TEMPLATE]  # docs contract only
    .venv/bin/python tests/template_check.py --self-test            # the check catches removals
    add -v to list passing checks too.

What is checked
  (a) every function's Metadata.BuildProperties.Binary is a workspace member crate
      lambdas/<binary>/ whose package (or a [[bin]]) is that binary with a main, and every binary
      crate under lambdas/ is deployed; runtime and handler are the cargo-lambda ones. Every function
      uses the shared Makefile build (one cargo build of all functions): BuildMethod makefile,
      ProjectRootDirectory scripts/sam/${Architecture}, and for every allowed Architecture `make -n`
      of that directory's Makefile shows build-<LogicalId> running scripts/sam-build.sh for that
      architecture and the function's Binary; the root Makefile has no target for a function the
      template lacks, and .cargo/config does not unify features over the workspace (SQLite would
      be linked into the functions).
  (b) every environment variable a function reads is set for it (Globals + function). What it
      reads comes from two sources, each checked on its own:
        - docs/configuration.md, the per-function table (the contract);
        - lambdas/<binary>/src/main.rs: env.required("X") / env.optional("X") / env.parse_or("X", ..)
          plus inventory::config::database_from_env (DB_SECRET_ARN, DB_HOST, DB_NAME) and
          admin_token_from_env (ADMIN_TOKEN_SECRET_ARN). Optional variables need not be set.
      Every variable the template sets for a function is one the docs name for it (typo guard).
  (c) every AWS API a function calls is allowed by its Policies (SAM policy templates expanded
      from samtranslator's own table), on the resource the matching variable points at, and
      nothing in that set is granted to a function that does not call it (least privilege).
      Calls come from the docs' "AWS calls" column and from the adapters main.rs constructs:
      SnsPublisher -> sns:Publish, KinesisCapture -> kinesis:PutRecords, S3Bucket -> s3:PutObject,
      SqsSender -> sqs:SendMessage, database_from_env / admin_token_from_env / secrets ->
      secretsmanager:GetSecretValue.
  (d) every SQS queue that is an event source has a RedrivePolicy DLQ (maxReceiveCount >= 5,
      14-day retention), an alarm on that DLQ, a visibility timeout >= 6x the consumer's timeout,
      partial batch responses and poller permissions; a consumer that reads MAX_RECEIVE_COUNT gets
      the queue's maxReceiveCount (same parameter or literal); every SNS -> SQS subscription is raw,
      has a redrive DLQ with an alarm, and queue policies that admit only its topic. Numbers given as
      a Ref to a parameter are checked at its Default and its MinValue/MaxValue bounds.
  plus routes (docs/api.md and the route table inventory::api::ROUTES, which names the function
  serving each route, vs HttpApi events), pipeline wiring (factory-orderer's Timeout covers
  FACTORY_TIMEOUT_MS + 5 s; FACTORY_URL is factory-sim's Function URL when the sim is deployed, and
  the sim's CALLBACK_BASE_URL is the orderer's) and the alarms the runbook relies on.
  (e) deploy safety: every function that gets database credentials (DB_SECRET_ARN + GetSecretValue
      on it), except the one the migrations custom resource invokes, DependsOn that resource; RDS
      DeletionProtection defaults to false and the final snapshot is kept; docs/deploy.md covers each
      failure state; the connection budget (each database function's concurrency cap x its
      DB_MAX_CONNECTIONS + migrate + headroom) fits max_connections of the default instance class;
      the DB parameter group has Lambda-fit timeouts and the family of every allowed engine version;
      a conditional RDS Proxy; every asynchronously invoked function has an SQS on-failure destination
      (14 days, alarmed, SendMessage granted after the SAM transform, a stack output donut-ops reads);
      DB_CA_BUNDLE and the CA layer on every database function, and every DB_* Globals variable read
      by lambdas/inventory/src/config.rs.
  (g) least privilege in the database: the migrations custom resource's function alone reads the
      admin secret (its DB_SECRET_ARN) and gets the application user's secret as DB_APP_SECRET_ARN;
      every other database function's DB_SECRET_ARN (and the Globals one) is that secret and it
      reads no other database secret; the application secret is generated (username, password key,
      letters and digits), carries what the managed rotation needs, and is rotated by a
      MySQLSingleUser HostedRotationLambda (the SecretsManager transform) after the migrations, in
      migrate's network, never with punctuation; an RDS Proxy admits the application user too.
  (f) docs/deploy.md lists the questions of `sam deploy --guided` in SAM CLI's order (computed with
      SAM CLI's own code) and itemises the costs; requirements-tools.txt pins every tool exactly and
      scripts/setup-venv.sh installs from it (and .venv has those versions).
Exit status 1 on any failure; the last line is "N passed, M failed".
"""
from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import yaml

# TEMPLATE_CHECK_ROOT lets the self-test point the code scan at a synthetic workspace.
ROOT = Path(os.environ.get("TEMPLATE_CHECK_ROOT") or Path(__file__).resolve().parent.parent).resolve()
DEFAULT_TEMPLATE = ROOT / "template.yaml"

# ---------------------------------------------------------------------------------------------
# CloudFormation-tolerant YAML
# ---------------------------------------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags into their long form."""


def _construct_cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::" + suffix: value}


CfnLoader.add_multi_constructor("!", _construct_cfn_tag)


def load_template(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


# ---------------------------------------------------------------------------------------------
# Intrinsic helpers
# ---------------------------------------------------------------------------------------------
SUB_VAR = re.compile(r"\$\{(?!!)([A-Za-z0-9_:]+)(?:\.[A-Za-z0-9_.]+)?\}")


def refs(x) -> set[str]:
    """Logical ids / parameters an expression refers to (pseudo parameters excluded)."""
    out: set[str] = set()
    if isinstance(x, dict):
        if len(x) == 1 and "Ref" in x and isinstance(x["Ref"], str):
            out.add(x["Ref"].split(".")[0])  # SAM's Function.Alias / Function.Version
        elif len(x) == 1 and "Fn::GetAtt" in x:
            v = x["Fn::GetAtt"]
            out.add(v[0] if isinstance(v, list) else str(v).split(".")[0])
        elif len(x) == 1 and "Fn::Sub" in x:
            v = x["Fn::Sub"]
            text, variables = (v, {}) if isinstance(v, str) else (v[0], v[1] if len(v) > 1 else {})
            for name in SUB_VAR.findall(text):
                if name not in variables:
                    out.add(name)
            for value in variables.values():
                out |= refs(value)
        elif len(x) == 1 and "Fn::If" in x:
            for branch in x["Fn::If"][1:]:
                out |= refs(branch)
        else:
            for value in x.values():
                out |= refs(value)
    elif isinstance(x, list):
        for value in x:
            out |= refs(value)
    return {r for r in out if not r.startswith("AWS::")}


def text_of(x) -> str:
    """A readable flattening of an expression, for suffix checks and messages."""
    if isinstance(x, str):
        return x
    if isinstance(x, dict) and len(x) == 1 and "Fn::Sub" in x:
        v = x["Fn::Sub"]
        return v if isinstance(v, str) else str(v[0])
    return json.dumps(x, sort_keys=True, default=str)


def as_list(x) -> list:
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


class Results:
    def __init__(self, verbose: bool):
        self.verbose = verbose
        self.passed = 0
        self.failed = 0
        self.tag = ""

    def begin(self, title: str, tag: str = "") -> None:
        self.tag = f"[{tag}] " if tag else ""
        print(f"== {title}")

    def check(self, ok: bool, what: str, why: str = "") -> bool:
        if ok:
            self.passed += 1
            if self.verbose:
                print(f"  ok    {what}")
        else:
            self.failed += 1
            print(f"  FAIL  {self.tag}{what}" + (f": {why}" if why else ""))
        return ok

    def note(self, message: str) -> None:
        print(f"  note  {message}")


# ---------------------------------------------------------------------------------------------
# The contract: adapters, actions, variables
# ---------------------------------------------------------------------------------------------
# action -> (variable naming its resource, resource type that variable must point at)
ACTION_TARGET = {
    "sns:Publish": ("STOCKOUT_TOPIC_ARN", "AWS::SNS::Topic"),
    "kinesis:PutRecords": ("CAPTURE_STREAM_NAME", "AWS::Kinesis::Stream"),
    "s3:PutObject": ("EXPORT_BUCKET", "AWS::S3::Bucket"),
    "sqs:SendMessage": ("SIM_QUEUE_URL", "AWS::SQS::Queue"),
}
SECRET_TARGETS = {
    "DB_SECRET_ARN": ("AWS::RDS::DBInstance", "AWS::SecretsManager::Secret"),
    "ADMIN_TOKEN_SECRET_ARN": ("AWS::SecretsManager::Secret",),
    "CALLBACK_SECRET_ARN": ("AWS::SecretsManager::Secret",),
    "DB_APP_SECRET_ARN": ("AWS::SecretsManager::Secret",),
}
# The calls whose grants are audited both ways (needed <=> granted).
AUDITED_ACTIONS = ["sns:Publish", "kinesis:PutRecords", "s3:PutObject", "sqs:SendMessage",
                   "secretsmanager:GetSecretValue"]
# Resource scoping beyond "the right resource".
RESOURCE_SUFFIX = {"s3:PutObject": "/exports/*"}

ADAPTERS = {  # identifier in main.rs -> (action, variable naming the resource)
    "SnsPublisher": ("sns:Publish", "STOCKOUT_TOPIC_ARN"),
    "KinesisCapture": ("kinesis:PutRecords", "CAPTURE_STREAM_NAME"),
    "S3Bucket": ("s3:PutObject", "EXPORT_BUCKET"),
    "SqsSender": ("sqs:SendMessage", "SIM_QUEUE_URL"),
    "database_from_env": ("secretsmanager:GetSecretValue", "DB_SECRET_ARN"),
    "admin_token_from_env": ("secretsmanager:GetSecretValue", "ADMIN_TOKEN_SECRET_ARN"),
    "callback_secret_from_env": ("secretsmanager:GetSecretValue", "CALLBACK_SECRET_ARN"),
    "app_user_from_env": ("secretsmanager:GetSecretValue", "DB_APP_SECRET_ARN"),  # migrate
    "LambdaInvoker": ("lambda:InvokeFunction", None),  # deploy-hook: the new versions
    "CodeDeployReporter": ("codedeploy:PutLifecycleEventHookExecutionStatus", None),  # deploy-hook
}
HELPER_VARS = {
    "database_from_env": ["DB_SECRET_ARN", "DB_HOST", "DB_NAME"],
    "admin_token_from_env": ["ADMIN_TOKEN_SECRET_ARN"],
    "callback_secret_from_env": ["CALLBACK_SECRET_ARN"],
    "app_user_from_env": ["DB_APP_SECRET_ARN"],
}
REQUIRED_METHODS = {"required", "require", "parse", "parse_required", "required_parse", "url", "required_url"}
OPTIONAL_METHODS = {"optional", "parse_or", "parse_optional", "optional_parse", "or_default", "flag",
                    "bool_or", "parse_or_default", "duration_ms_or", "millis_or", "secs_or"}
SQS_POLL_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility"]


class Facts:
    """What one function needs: variables it reads and AWS calls it makes."""

    def __init__(self, source: str):
        self.source = source
        self.required: set[str] = set()
        self.optional: set[str] = set()
        self.calls: set[tuple[str, str | None]] = set()  # (action, variable naming the resource)
        self.notes: list[str] = []
        self.empty = False


def docs_contract(path: Path) -> tuple[dict[str, Facts], set[str], dict[str, list[str]]]:
    """Per-function facts, shared variables and HTTP routes per function from docs/configuration.md."""
    text = path.read_text(encoding="utf-8")
    shared = set()
    if "## Per function" in text:
        head, tail = text.split("## Per function", 1)
    else:
        head, tail = text, ""
    for line in head.splitlines():
        if line.startswith("| `"):
            shared |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    facts: dict[str, Facts] = {}
    routes: dict[str, list[str]] = {}
    for line in tail.splitlines():
        m = re.match(r"^\|\s*`([a-z0-9-]+)`\s*\|(.*)\|\s*$", line)
        if not m:
            continue
        name = m.group(1)
        cells = [c.strip() for c in m.group(2).split("|")]
        if len(cells) < 3:
            continue
        trigger, variables, calls = cells[0], cells[1], cells[2]
        f = Facts("docs/configuration.md")
        routes[name] = [r.strip() for r in re.findall(r"`((?:GET|POST|PUT|DELETE|PATCH) /[^`]*)`", trigger)]
        variables = re.sub(r"\(or [^)]*\)", "", variables)  # "(or `ADMIN_TOKEN` locally)"
        if "DB vars" in variables:
            f.required |= set(HELPER_VARS["database_from_env"])
            f.calls.add(("secretsmanager:GetSecretValue", "DB_SECRET_ARN"))
        for var, rest in re.findall(r"`([A-Z][A-Z0-9_]+)`([^`]*)", variables):
            has_default = re.match(r"^\s*\((?:default\b|[0-9.]+\)|false\)|true\))", rest)
            (f.optional if has_default else f.required).add(var)
        for action in re.findall(r"`([a-z0-9-]+:[A-Za-z*]+)`", calls):
            if action == "secretsmanager:GetSecretValue":
                if "DB secret" in calls:
                    f.calls.add((action, "DB_SECRET_ARN"))
                if "admin secret" in calls:
                    f.calls.add((action, "ADMIN_TOKEN_SECRET_ARN"))
                if "callback secret" in calls:
                    f.calls.add((action, "CALLBACK_SECRET_ARN"))
                if "application user secret" in calls:
                    f.calls.add((action, "DB_APP_SECRET_ARN"))
                if not re.search(r"DB secret|admin secret|callback secret|application user secret", calls) and "DB vars" not in cells[1]:
                    f.calls.add((action, None))
            else:
                f.calls.add((action, ACTION_TARGET.get(action, (None,))[0]))
        facts[name] = f
    return facts, shared, routes


def strip_rust_comments(src: str) -> str:
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    src = re.sub(r"//[^\n]*", "", src)
    # The test module at the end (`#[cfg(test)] mod tests { … }`); a `#[cfg(test)] mod x;`
    # declaration is not the end of the function's code.
    cut = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", src)
    return src if cut is None else src[: cut.start()]


ENV_CALL = re.compile(r"\.\s*([a-z_]+)\s*(?:::<[^>]*>)?\s*\(\s*\"([A-Z][A-Z0-9_]*)\"")
STD_ENV = re.compile(r"\benv::var(?:_os)?\s*\(\s*\"([A-Z][A-Z0-9_]*)\"\s*\)([^;]{0,40})")


def code_facts(main_rs: Path) -> Facts:
    try:
        f = Facts(str(main_rs.relative_to(ROOT)))
    except ValueError:
        f = Facts(str(main_rs))
    if not main_rs.exists():
        f.empty = True
        f.notes.append("missing")
        return f
    src = strip_rust_comments(main_rs.read_text(encoding="utf-8"))
    for method, var in ENV_CALL.findall(src):
        if method in OPTIONAL_METHODS:
            f.optional.add(var)
        elif method in REQUIRED_METHODS:
            f.required.add(var)
        elif method in {"var", "var_os"}:
            continue  # std::env::var, handled below
        else:
            f.required.add(var)
            f.notes.append(f'unknown reader .{method}("{var}") treated as required')
    for var, rest in STD_ENV.findall(src):
        (f.optional if re.search(r"\.ok\(\)|unwrap_or|is_ok|is_err", rest) else f.required).add(var)
    for helper, variables in HELPER_VARS.items():
        if re.search(rf"\b{helper}\b", src):
            f.required |= set(variables)
    for ident, (action, var) in ADAPTERS.items():
        if re.search(rf"\b{ident}\b", src):
            f.calls.add((action, var))
    if re.search(r"\bsecrets::|\bSecretsManager\b|get_secret_value", src) and not any(
        a == "secretsmanager:GetSecretValue" for a, _ in f.calls
    ):
        f.calls.add(("secretsmanager:GetSecretValue", None))
    if not f.required and not f.optional and not f.calls:
        f.empty = True
    return f


# ---------------------------------------------------------------------------------------------
# Template model
# ---------------------------------------------------------------------------------------------


def sam_policy_templates() -> dict:
    try:
        import samtranslator  # noqa: PLC0415

        path = Path(samtranslator.__file__).parent / "policy_templates_data" / "policy_templates.json"
        return json.loads(path.read_text())["Templates"]
    except Exception:  # pragma: no cover - fallback when samtranslator is absent
        def arn(service, param, var):
            return {"Fn::Sub": [f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:${{{var}}}",
                                {var: {"Ref": param}}]}
        return {
            "SNSPublishMessagePolicy": {"Definition": {"Statement": [
                {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": arn("sns", "TopicName", "topicName")}]},
                "Parameters": {"TopicName": {}}},
            "SQSPollerPolicy": {"Definition": {"Statement": [
                {"Effect": "Allow", "Action": ["sqs:ChangeMessageVisibility", "sqs:ChangeMessageVisibilityBatch",
                                               "sqs:DeleteMessage", "sqs:DeleteMessageBatch",
                                               "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                 "Resource": arn("sqs", "QueueName", "queueName")}]}, "Parameters": {"QueueName": {}}},
            "SQSSendMessagePolicy": {"Definition": {"Statement": [
                {"Effect": "Allow", "Action": ["sqs:SendMessage*"], "Resource": arn("sqs", "QueueName", "queueName")}]},
                "Parameters": {"QueueName": {}}},
            "AWSSecretsManagerGetSecretValuePolicy": {"Definition": {"Statement": [
                {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                 "Resource": {"Fn::Sub": ["${secretArn}", {"secretArn": {"Ref": "SecretArn"}}]}}]},
                "Parameters": {"SecretArn": {}}},
            "VPCAccessPolicy": {"Definition": {"Statement": [
                {"Effect": "Allow", "Action": ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
                                               "ec2:DescribeNetworkInterfaces", "ec2:DetachNetworkInterface"],
                 "Resource": "*"}]}, "Parameters": {}},
        }


POLICY_TEMPLATES = sam_policy_templates()


def _substitute(x, values: dict):
    if isinstance(x, dict):
        if len(x) == 1 and "Ref" in x and x["Ref"] in values:
            return values[x["Ref"]]
        return {k: _substitute(v, values) for k, v in x.items()}
    if isinstance(x, list):
        return [_substitute(v, values) for v in x]
    return x


class Template:
    def __init__(self, data: dict):
        self.data = data
        self.resources: dict = data.get("Resources", {}) or {}
        self.parameters: dict = data.get("Parameters", {}) or {}
        self.globals_fn: dict = ((data.get("Globals") or {}).get("Function") or {})
        self.notes: list[str] = []

    def of_type(self, *types: str) -> dict:
        return {k: v for k, v in self.resources.items() if v.get("Type") in types}

    def functions(self) -> dict:
        return self.of_type("AWS::Serverless::Function")

    def prop(self, fn: dict, name: str, default=None):
        p = fn.get("Properties") or {}
        return p[name] if name in p else self.globals_fn.get(name, default)

    def env(self, fn: dict) -> dict:
        out = dict(((self.globals_fn.get("Environment") or {}).get("Variables") or {}))
        out.update((((fn.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}))
        return out

    def statements(self, logical_id: str) -> list[dict]:
        """Allow statements of a function's Policies, SAM policy templates expanded."""
        fn = self.resources[logical_id]
        out: list[dict] = []
        for entry in as_list((fn.get("Properties") or {}).get("Policies")):
            if isinstance(entry, str):
                self.notes.append(f"{logical_id}: managed policy {entry} not expanded")
                continue
            if not isinstance(entry, dict):
                continue
            if "Statement" in entry:
                out += [s for s in as_list(entry["Statement"]) if s.get("Effect") == "Allow"]
                continue
            for name, params in entry.items():
                tpl = POLICY_TEMPLATES.get(name)
                if tpl is None:
                    self.notes.append(f"{logical_id}: unknown policy template {name}")
                    continue
                definition = _substitute(copy.deepcopy(tpl["Definition"]), params or {})
                out += [s for s in as_list(definition.get("Statement")) if s.get("Effect") == "Allow"]
        return out

    def grants(self, logical_id: str, action: str) -> list[dict]:
        """Statements of the function allowing `action` (wildcards in the policy honoured)."""
        hits = []
        for s in self.statements(logical_id):
            for pattern in as_list(s.get("Action")):
                if isinstance(pattern, str) and fnmatch.fnmatchcase(action.lower(), pattern.lower()):
                    hits.append(s)
                    break
        return hits

    def bounds(self, x) -> tuple[float, float, float] | None:
        """(default, lowest, highest) of a number that is a literal or a Ref to a Number parameter
        (MinValue/MaxValue or AllowedValues bound what a deployer may pass); None if unknown."""
        if isinstance(x, (int, float)) or (isinstance(x, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", x)):
            v = float(x)
            return v, v, v
        if isinstance(x, dict) and set(x) == {"Ref"} and x["Ref"] in self.parameters:
            p = self.parameters[x["Ref"]] or {}
            try:
                default = float(p["Default"])
            except (KeyError, TypeError, ValueError):
                return None
            allowed = [float(v) for v in as_list(p.get("AllowedValues"))
                       if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", str(v))]
            low = float(p["MinValue"]) if "MinValue" in p else (min(allowed) if allowed else float("-inf"))
            high = float(p["MaxValue"]) if "MaxValue" in p else (max(allowed) if allowed else float("inf"))
            return default, low, high
        return None

    def binary(self, fn: dict) -> str | None:
        return (((fn.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary"))

    def function_by_binary(self) -> dict[str, str]:
        return {self.binary(v): k for k, v in self.functions().items() if self.binary(v)}

    def target_refs(self, fn: dict, var: str | None) -> set[str] | None:
        if var is None:
            return None
        value = self.env(fn).get(var)
        return refs(value) if value is not None else None

    def types_of(self, ids: set[str]) -> set[str]:
        return {self.resources[i]["Type"] if i in self.resources else
                ("Parameter" if i in self.parameters else "?") for i in ids}

    def alarms_on_queue(self, queue_id: str, metric: str) -> list[str]:
        found = []
        for aid, alarm in self.of_type("AWS::CloudWatch::Alarm").items():
            p = alarm.get("Properties") or {}
            if p.get("Namespace") != "AWS/SQS" or p.get("MetricName") != metric:
                continue
            dims = as_list(p.get("Dimensions"))
            if any(d.get("Name") == "QueueName" and queue_id in refs(d.get("Value")) for d in dims):
                found.append(aid)
        return found

    def queue_policies_for(self, queue_id: str) -> list[dict]:
        out = []
        for pol in self.of_type("AWS::SQS::QueuePolicy").values():
            p = pol.get("Properties") or {}
            if any(queue_id in refs(q) for q in as_list(p.get("Queues"))):
                out += as_list((p.get("PolicyDocument") or {}).get("Statement"))
        return out


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def workspace_binaries() -> dict[str, Path]:
    """binary name -> crate dir, for workspace members that build a binary."""
    ws = tomllib.loads((ROOT / "Cargo.toml").read_text())
    out: dict[str, Path] = {}
    for member in ws.get("workspace", {}).get("members", []):
        crate = ROOT / member
        manifest = crate / "Cargo.toml"
        if not manifest.exists():
            continue
        cargo = tomllib.loads(manifest.read_text())
        pkg = cargo.get("package", {}).get("name")
        bins = cargo.get("bin", [])
        for b in bins:
            if b.get("name"):
                out[b["name"]] = crate
        if pkg and (crate / "src" / "main.rs").exists() and not any(b.get("name") == pkg for b in bins):
            out[pkg] = crate
    return out


def main_rs_of(binary: str, crate: Path) -> Path:
    cargo = tomllib.loads((crate / "Cargo.toml").read_text())
    for b in cargo.get("bin", []):
        if b.get("name") == binary and b.get("path"):
            return crate / b["path"]
    return crate / "src" / "main.rs"


def check_binaries(t: Template, r: Results) -> None:
    r.begin("(a) functions <-> workspace binaries")
    bins = workspace_binaries()
    deployed = t.function_by_binary()
    for lid, fn in t.functions().items():
        b = t.binary(fn)
        meta = fn.get("Metadata") or {}
        r.check(meta.get("BuildMethod") == "makefile", f"{lid}: BuildMethod makefile (the shared cargo build)",
                f"got {meta.get('BuildMethod')!r}: rust-cargolambda runs one cargo build per function")
        if not r.check(bool(b), f"{lid}: Metadata.BuildProperties.Binary set"):
            continue
        check_make_target(t, r, lid, b, meta.get("ProjectRootDirectory"))
        crate = bins.get(b)
        r.check(crate is not None, f"{lid}: binary {b} is a workspace member binary",
                "no member crate with that package name + src/main.rs or [[bin]]")
        if crate is not None:
            r.check(crate == ROOT / "lambdas" / b, f"{lid}: binary {b} lives in lambdas/{b}/",
                    f"found in {crate.relative_to(ROOT)}")
        r.check(t.prop(fn, "Runtime") == "provided.al2023", f"{lid}: Runtime provided.al2023")
        r.check(t.prop(fn, "Handler") == "bootstrap", f"{lid}: Handler bootstrap")
        r.check(t.prop(fn, "CodeUri") in (".", "./"), f"{lid}: CodeUri is the workspace root",
                f"got {t.prop(fn, 'CodeUri')!r}")
        arch = t.prop(fn, "Architectures")
        r.check(arch is not None and "Architecture" in refs(arch), f"{lid}: Architectures from the Architecture parameter")
    arch_param = t.parameters.get("Architecture") or {}
    r.check(arch_param.get("Default") == "arm64" and set(arch_param.get("AllowedValues", [])) == {"arm64", "x86_64"},
            "Architecture parameter: default arm64, arm64|x86_64")
    for b, crate in sorted(bins.items()):
        if crate.parent.name != "lambdas":
            continue  # infra/devstack is a local runner, not a function
        r.check(b in deployed, f"lambdas binary {b} is deployed by a function")
    makefile = ROOT / "Makefile"
    targets = set(re.findall(r"^build-([A-Za-z0-9]+)\s*:", makefile.read_text(encoding="utf-8"), re.M)) \
        if makefile.exists() else set()
    stale = sorted(targets - set(t.functions()))
    r.check(not stale, "Makefile: a build target only for functions of the template", f"also {stale}")
    # Cargo's resolver.feature-unification = "workspace" (a .cargo/config.toml setting) would resolve
    # the functions' features together with the local stack's: inventory's sqlite in every bootstrap.
    unify = {}
    for name in ("config.toml", "config"):
        config = ROOT / ".cargo" / name
        if config.is_file():
            unify[name] = (tomllib.loads(config.read_text()).get("resolver") or {}).get("feature-unification")
    r.check("workspace" not in unify.values(), ".cargo/config: features not unified over the workspace",
            "resolver.feature-unification = \"workspace\" links the local stack's SQLite into every function")


def sub_at(x, params: dict) -> str | None:
    """A literal or an Fn::Sub string of parameters only, at these parameter values."""
    if isinstance(x, str):
        return x
    if isinstance(x, dict) and set(x) == {"Fn::Sub"} and isinstance(x["Fn::Sub"], str):
        text = x["Fn::Sub"]
        if all(name in params for name in SUB_VAR.findall(text)):
            return SUB_VAR.sub(lambda m: str(params[m.group(1)]), text)
    return None


def check_make_target(t: Template, r: Results, lid: str, binary: str, project_dir) -> None:
    """SAM runs `make --makefile <ProjectRootDirectory>/Makefile build-<lid>`: per architecture, that
    target must run scripts/sam-build.sh for that architecture and this function's binary."""
    r.check("Architecture" in refs(project_dir), f"{lid}: ProjectRootDirectory follows the Architecture parameter",
            f"got {project_dir!r}: the Makefile (and so the build) would not change with Architecture")
    for arch in as_list((t.parameters.get("Architecture") or {}).get("AllowedValues")):
        rel = sub_at(project_dir, {"Architecture": arch})
        makefile = ROOT / rel / "Makefile" if rel else None
        if not r.check(makefile is not None and makefile.is_file(), f"{lid}: a Makefile for Architecture={arch}",
                       f"ProjectRootDirectory {project_dir!r} -> {makefile}"):
            continue
        try:
            proc = subprocess.run(["make", "-n", "--makefile", str(makefile), f"build-{lid}"], capture_output=True,
                                  text=True, cwd=tempfile.gettempdir(), timeout=60,
                                  env={**os.environ, "ARTIFACTS_DIR": "/nonexistent"})
            out = proc.stdout if proc.returncode == 0 else proc.stderr
        except FileNotFoundError:
            out = "make is not installed (sam build needs it)"
        want = re.compile(rf'^"?\S*/scripts/sam-build\.sh"? "?{re.escape(str(arch))}"? {re.escape(binary)}$', re.M)
        r.check(bool(want.search(out)), f"{lid}: make target build-{lid} builds {binary} for {arch}",
                f"make -n {makefile.relative_to(ROOT)} build-{lid}: {out.strip()[:300]!r}")


def check_env(t: Template, r: Results, facts: dict[str, Facts], label: str, shared: set[str] | None,
              documented: dict[str, Facts] | None) -> None:
    r.begin(f"(b) environment variables vs {label}", "docs" if label.startswith("docs") else "code")
    by_binary = t.function_by_binary()
    for binary, f in sorted(facts.items()):
        lid = by_binary.get(binary)
        if not r.check(lid is not None, f"{binary}: has a function in the template"):
            continue
        fn = t.resources[lid]
        env = t.env(fn)
        if f.empty:
            r.check(False, f"{binary}: {f.source} reads its configuration",
                    "no env reads, config helpers or adapters found (main.rs not written yet?)")
            continue
        for note in f.notes:
            r.note(f"{binary}: {note}")
        for var in sorted(f.required):
            r.check(var in env, f"{binary}: {var} is set", f"read as required by {f.source}, not in Globals or "
                    f"{lid}.Environment")
        for var, (types) in SECRET_TARGETS.items():
            if var in f.required and var in env:
                ids = refs(env[var])
                r.check(bool(ids) and t.types_of(ids) <= set(types) | {"Parameter"},
                        f"{binary}: {var} points at {' or '.join(types)}", f"points at {sorted(ids)}")
        for var, rtype in (v for v in ACTION_TARGET.values()):
            if (var in f.required or var in f.optional) and var in env:
                ids = refs(env[var])
                r.check(bool(ids) and t.types_of(ids) == {rtype}, f"{binary}: {var} points at {rtype}",
                        f"points at {sorted(ids)} ({sorted(t.types_of(ids))})")
    if documented is not None and shared is not None:
        for binary, lid in sorted(by_binary.items()):
            f = documented.get(binary)
            if f is None:
                r.check(False, f"{binary}: documented in docs/configuration.md")
                continue
            own = (((t.resources[lid].get("Properties") or {}).get("Environment") or {}).get("Variables") or {})
            for var in sorted(own):
                r.check(var in f.required | f.optional | shared, f"{binary}: sets {var}, which the docs name",
                        "not in docs/configuration.md for this function (typo or undocumented variable)")


def check_permissions(t: Template, r: Results, facts: dict[str, Facts], label: str) -> None:
    r.begin(f"(c) AWS calls vs policies ({label})", "docs" if label.startswith("docs") else "code")
    by_binary = t.function_by_binary()
    for binary, f in sorted(facts.items()):
        lid = by_binary.get(binary)
        if lid is None or f.empty:
            continue
        fn = t.resources[lid]
        needed_actions = {a for a, _ in f.calls}
        for action, var in sorted(f.calls, key=lambda c: (c[0], c[1] or "")):
            grants = t.grants(lid, action)
            what = f"{binary}: {action}" + (f" on {var}" if var else "")
            if not r.check(bool(grants), f"{what} is allowed", f"no Allow statement in {lid}.Policies grants {action}"):
                continue
            target = t.target_refs(fn, var)
            if target is None:
                continue
            wildcard = [s for s in grants if as_list(s.get("Resource")) == ["*"]]
            scoped = [s for s in grants if refs(s.get("Resource")) & target]
            r.check(bool(scoped), f"{what}: granted on the resource {var} names ({', '.join(sorted(target))})",
                    "Resource '*' is too broad" if wildcard else
                    f"granted on {[text_of(s.get('Resource')) for s in grants]}")
            suffix = RESOURCE_SUFFIX.get(action)
            if suffix and scoped:
                r.check(all(text_of(res).endswith(suffix) for s in scoped for res in as_list(s.get("Resource"))),
                        f"{what}: limited to *{suffix}")
        for action in AUDITED_ACTIONS:
            if action not in needed_actions:
                r.check(not t.grants(lid, action), f"{binary}: not granted {action} (it does not call it)",
                        "least privilege: remove the grant or document the call")


def queue_consumers(t: Template) -> list[tuple[str, str, dict]]:
    """(function id, queue id, mapping properties) for every SQS event source."""
    out = []
    queues = t.of_type("AWS::SQS::Queue")
    for esm in t.of_type("AWS::Lambda::EventSourceMapping").values():
        p = esm.get("Properties") or {}
        for q in refs(p.get("EventSourceArn")):
            if q in queues:
                fns = [x for x in refs(p.get("FunctionName")) if x in t.resources]
                out += [(fid, q, p) for fid in fns]
    for fid, fn in t.functions().items():
        for ev in ((fn.get("Properties") or {}).get("Events") or {}).values():
            if ev.get("Type") == "SQS":
                p = ev.get("Properties") or {}
                out += [(fid, q, dict(p, _sam_event=True)) for q in refs(p.get("Queue")) if q in queues]
    return out


def check_dlq_alarm(t: Template, r: Results, who: str, dlq: str) -> None:
    if not r.check(dlq in t.of_type("AWS::SQS::Queue"), f"{who}: DLQ {dlq} is an SQS queue"):
        return
    retention = ((t.resources[dlq].get("Properties") or {}).get("MessageRetentionPeriod"))
    r.check(str(retention) == "1209600", f"{who}: DLQ {dlq} keeps messages 14 days", f"got {retention}")
    alarms = t.alarms_on_queue(dlq, "ApproximateNumberOfMessagesVisible")
    if not r.check(bool(alarms), f"{who}: alarm on DLQ {dlq} ApproximateNumberOfMessagesVisible",
                   "no AWS::CloudWatch::Alarm on that queue"):
        return
    good = []
    for aid in alarms:
        p = t.resources[aid]["Properties"]
        threshold_ok = (p.get("ComparisonOperator") == "GreaterThanThreshold" and float(p.get("Threshold", 1)) == 0) or (
            p.get("ComparisonOperator") == "GreaterThanOrEqualToThreshold" and float(p.get("Threshold", 0)) == 1)
        if threshold_ok and p.get("TreatMissingData") == "notBreaching" and as_list(p.get("AlarmActions")):
            good.append(aid)
    r.check(bool(good), f"{who}: DLQ alarm fires on > 0, notBreaching, with AlarmActions", f"alarms {alarms}")


def check_queues(t: Template, r: Results, receive_count_readers: set[str] | None = None) -> None:
    """receive_count_readers: binaries that read MAX_RECEIVE_COUNT (docs or code)."""
    r.begin("(d) queues, subscriptions, DLQs and their alarms")
    consumers = queue_consumers(t)
    r.check(bool(consumers), "at least one SQS event source")
    for fid, qid, mapping in consumers:
        who = f"{fid} <- {qid}"
        q = t.resources[qid].get("Properties") or {}
        redrive = q.get("RedrivePolicy") or {}
        dlqs = refs(redrive.get("deadLetterTargetArn"))
        if r.check(bool(dlqs), f"{who}: RedrivePolicy with a DLQ"):
            count = t.bounds(redrive.get("maxReceiveCount", 0))
            r.check(count is not None and count[0] >= 5 and count[1] >= 5,
                    f"{who}: maxReceiveCount >= 5 (default and lowest allowed value)",
                    f"got {redrive.get('maxReceiveCount')} -> {count}")
            for dlq in dlqs:
                check_dlq_alarm(t, r, who, dlq)
            binary = t.binary(t.resources[fid])
            if receive_count_readers is not None and binary in receive_count_readers:
                # The function's "last receive" logic must agree with the queue's redrive.
                value = t.env(t.resources[fid]).get("MAX_RECEIVE_COUNT")
                same = value is not None and (value == redrive.get("maxReceiveCount") or (
                    t.bounds(value) is not None and t.bounds(value) == t.bounds(redrive.get("maxReceiveCount"))
                    and t.bounds(value)[1] == t.bounds(value)[2]))
                r.check(same, f"{who}: MAX_RECEIVE_COUNT is the queue's maxReceiveCount",
                        f"MAX_RECEIVE_COUNT {value!r} vs maxReceiveCount {redrive.get('maxReceiveCount')!r} "
                        "(use the same parameter or literal for both)")
        timeout_b = t.bounds(t.prop(t.resources[fid], "Timeout", 3))
        vis_b = t.bounds(q.get("VisibilityTimeout", 30))
        ok = timeout_b is not None and vis_b is not None and vis_b[1] >= 6 * timeout_b[2]
        r.check(ok, f"{who}: VisibilityTimeout {q.get('VisibilityTimeout', 30)} >= 6 x function Timeout "
                    f"{t.prop(t.resources[fid], 'Timeout', 3)}", f"bounds {vis_b} vs {timeout_b}")
        r.check("ReportBatchItemFailures" in as_list(mapping.get("FunctionResponseTypes")),
                f"{who}: FunctionResponseTypes ReportBatchItemFailures")
        if not mapping.get("_sam_event"):  # SAM's SQS event attaches its own (broad) poller policy
            for action in SQS_POLL_ACTIONS:
                grants = t.grants(fid, action)
                r.check(any(qid in refs(s.get("Resource")) for s in grants), f"{who}: {action} on the queue",
                        "poller permission missing (SQSPollerPolicy)")
    subs = [(sid, s.get("Properties") or {}) for sid, s in t.of_type("AWS::SNS::Subscription").items()
            if (s.get("Properties") or {}).get("Protocol") == "sqs"]
    for sid, p in subs:
        r.check(str(p.get("RawMessageDelivery")).lower() == "true", f"{sid}: RawMessageDelivery true")
        dlqs = refs((p.get("RedrivePolicy") or {}).get("deadLetterTargetArn"))
        if r.check(bool(dlqs), f"{sid}: RedrivePolicy with a DLQ"):
            for dlq in dlqs:
                check_dlq_alarm(t, r, sid, dlq)
        topics = refs(p.get("TopicArn"))
        for qid in sorted(refs(p.get("Endpoint")) | dlqs):
            stmts = t.queue_policies_for(qid)
            allowing = [s for s in stmts if s.get("Effect") == "Allow"
                        and (s.get("Principal") or {}).get("Service") in ("sns.amazonaws.com", ["sns.amazonaws.com"])
                        and "sqs:SendMessage" in as_list(s.get("Action"))]
            r.check(bool(allowing), f"{sid}: queue policy on {qid} lets SNS send")
            for s in allowing:
                cond = s.get("Condition") or {}
                src = [v.get("aws:SourceArn") for v in cond.values() if isinstance(v, dict) and "aws:SourceArn" in v]
                r.check(bool(src) and all(refs(x) and refs(x) <= topics for x in src),
                        f"{sid}: queue policy on {qid} admits only its topic (aws:SourceArn)")


ROUTE_TABLE = Path("lambdas/inventory/src/api/routes.rs")


def code_routes(root: Path) -> dict[str, set[str]] | None:
    """`METHOD /path` -> the binaries serving it, from the one route table (inventory::api::ROUTES):
    `Route::new("POST", "/sales", &[SalesApi])` lines, with each function's binary
    from `Function::binary` (`Function::SalesApi => "sales-api"`). None when the file is absent."""
    path = root / ROUTE_TABLE
    if not path.is_file():
        return None
    src = strip_rust_comments(path.read_text(encoding="utf-8"))
    binaries = dict(re.findall(r"Function::(\w+)\s*=>\s*\"([a-z0-9-]+)\"", src))
    table = re.search(r"const ROUTES\b[^=]*=\s*&\[(.*?)\];", src, flags=re.S)
    routes: dict[str, set[str]] = {}
    for method, route_path, functions in re.findall(
            r'Route::new\(\s*"([A-Z]+)",\s*"([^"]+)",\s*&\[([^\]]*)\]\s*,?\s*\)',
            table.group(1) if table else ""):
        names = [f.strip().removeprefix("Function::") for f in functions.split(",") if f.strip()]
        routes[f"{method} {route_path}"] = {binaries.get(n, f"<unknown {n}>") for n in names}
    return routes


def check_routes(t: Template, r: Results, doc_routes: dict[str, list[str]],
                 table: dict[str, set[str]] | None) -> None:
    r.begin("routes: docs/api.md + docs/configuration.md + inventory::api::ROUTES vs HttpApi events")
    api_md = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    documented = set()
    for m in re.finditer(r"^\|\s*`(GET|POST|PUT|DELETE|PATCH) (/[^`?\s]*)", api_md, flags=re.M):
        if not m.group(2).startswith(("/ops/", "/factory-sim/")):
            documented.add(f"{m.group(1)} {m.group(2)}")
    deployed: dict[str, str] = {}
    has_default = False
    for fid, fn in t.functions().items():
        for ev in ((fn.get("Properties") or {}).get("Events") or {}).values():
            if ev.get("Type") != "HttpApi":
                continue
            p = ev.get("Properties") or {}
            if "Path" not in p and "Method" not in p:
                has_default = True
                continue
            deployed[f"{str(p.get('Method', 'ANY')).upper()} {p.get('Path')}"] = t.binary(fn)
    r.check(bool(documented), "docs/api.md lists routes")
    for route in sorted(documented):
        r.check(route in deployed, f"route {route} is deployed")
    for route in sorted(set(deployed) - documented):
        r.check(False, f"route {route} is documented in docs/api.md", "deployed but not in the contract")
    for binary, routes in doc_routes.items():
        for route in routes:
            route = route.split("?")[0]
            if route in deployed:
                r.check(deployed[route] == binary, f"[docs] route {route} is served by {binary}",
                        f"served by {deployed[route]}")
    if table is not None:
        r.check(bool(table), f"[code] {ROUTE_TABLE} declares routes")
        for route, binaries in sorted(table.items()):
            if r.check(route in deployed, f"[code] route {route} (inventory::api::ROUTES) is deployed"):
                r.check(deployed[route] in binaries,
                        f"[code] route {route} is served by {' or '.join(sorted(binaries))}",
                        f"the template routes it to {deployed[route]}")
        for route in sorted(set(deployed) - set(table)):
            r.check(False, f"[code] route {route} is in inventory::api::ROUTES", "deployed but no function serves it")
    r.check(has_default, "a $default route answers unknown paths (404/405 bodies of docs/api.md)")


def check_wiring(t: Template, r: Results) -> None:
    r.begin("wiring and operations")
    by_binary = t.function_by_binary()
    # sales-api's stock-out topic -> sqs subscription -> queue consumed by factory-orderer
    sales = t.resources.get(by_binary.get("sales-api", ""), {})
    topics = refs(t.env(sales).get("STOCKOUT_TOPIC_ARN")) if sales else set()
    sub_queues = {q for s in t.of_type("AWS::SNS::Subscription").values()
                  if refs((s.get("Properties") or {}).get("TopicArn")) & topics
                  for q in refs((s.get("Properties") or {}).get("Endpoint"))}
    orderer = by_binary.get("factory-orderer")
    consumed = {q for fid, q, _ in queue_consumers(t) if fid == orderer}
    r.check(bool(sub_queues & consumed), "stock-out topic -> SQS subscription -> factory-orderer's queue")
    # factory-orderer: its function timeout covers one factory call (records run concurrently)
    if orderer:
        fn = t.resources[orderer]
        timeout_b = t.bounds(t.prop(fn, "Timeout", 3))
        call = t.env(fn).get("FACTORY_TIMEOUT_MS", "5000")
        call_b = t.bounds(call)
        r.check(timeout_b is not None and call_b is not None and timeout_b[1] * 1000 >= call_b[2] + 5000,
                "factory-orderer: Timeout >= FACTORY_TIMEOUT_MS (highest allowed) + 5 s",
                f"Timeout {t.prop(fn, 'Timeout', 3)!r} vs FACTORY_TIMEOUT_MS {call!r} ({call_b})")
        sim = by_binary.get("factory-sim")
        factory_url = t.env(fn).get("FACTORY_URL")
        if sim:
            r.check(f"{sim}Url" in refs(factory_url), "factory-orderer: FACTORY_URL uses factory-sim's Function URL "
                    "when it is deployed", f"got {text_of(factory_url)}")
            base = t.env(t.resources[sim]).get("CALLBACK_BASE_URL")
            r.check(base is not None and base == t.env(fn).get("CALLBACK_BASE_URL"),
                    "factory-sim: CALLBACK_BASE_URL (allowed callbacks) is factory-orderer's CALLBACK_BASE_URL",
                    f"{text_of(base)} vs {text_of(t.env(fn).get('CALLBACK_BASE_URL'))}")
    # capture: sales-api and restock log groups -> subscription filter -> api-capture (+ permission)
    capture = by_binary.get("api-capture")
    filters = t.of_type("AWS::Logs::SubscriptionFilter").values()
    perms = [p.get("Properties") or {} for p in t.of_type("AWS::Lambda::Permission").values()]
    for binary in ("sales-api", "restock"):
        lid = by_binary.get(binary)
        if lid is None:
            continue
        groups = refs(((t.resources[lid].get("Properties") or {}).get("LoggingConfig") or {}).get("LogGroup"))
        ok = any(refs((f.get("Properties") or {}).get("LogGroupName")) & groups
                 and capture in refs((f.get("Properties") or {}).get("DestinationArn"))
                 and "$.capture" in str((f.get("Properties") or {}).get("FilterPattern")) for f in filters)
        r.check(bool(groups) and ok, f"{binary} log group -> capture subscription filter -> api-capture")
        r.check(any(p.get("Principal", "").startswith("logs.") and capture in refs(p.get("FunctionName"))
                    and refs(p.get("SourceArn")) & groups for p in perms),
                f"logs.amazonaws.com may invoke api-capture for {binary}'s log group")
    # alarms
    alarms = [a.get("Properties") or {} for a in t.of_type("AWS::CloudWatch::Alarm").values()]

    def metrics_of(p):
        yield p.get("Namespace"), p.get("MetricName"), as_list(p.get("Dimensions"))
        for m in as_list(p.get("Metrics")):
            ms = ((m.get("MetricStat") or {}).get("Metric") or {})
            yield ms.get("Namespace"), ms.get("MetricName"), as_list(ms.get("Dimensions"))

    for fid in t.functions():
        for metric in ("Errors", "Throttles"):
            r.check(any(ns == "AWS/Lambda" and mn == metric and any(fid in refs(d.get("Value")) for d in dims)
                        for p in alarms for ns, mn, dims in metrics_of(p)), f"{fid}: {metric} alarm")
    for metric in ("OrdersFailed", "CaptureFailures"):
        r.check(any(ns == "DonutPipeline" and mn == metric and any(d.get("Name") == "Service" for d in dims)
                    for p in alarms for ns, mn, dims in metrics_of(p)), f"{metric} alarm (DonutPipeline, Service)")
    r.check(all(as_list(p.get("AlarmActions")) for p in alarms), "every alarm notifies (AlarmActions)")
    r.check(bool(t.of_type("AWS::CloudWatch::Dashboard")), "a CloudWatch dashboard")
    outputs = set((t.data.get("Outputs") or {}).keys())
    for name in ("ApiUrl", "BucketName", "StockOutTopicArn", "FactoryOrdersQueueUrl", "FactoryOrdersDlqUrl",
                 "DashboardUrl", "AdminTokenSecretArn"):
        r.check(name in outputs, f"output {name}")


# ---------------------------------------------------------------------------------------------
# Deploy safety (issue 12): migrations first, rollback that cannot be trapped, the connection
# budget, on-failure destinations, the CA bundle, and the guided-deploy questions in the docs.
# ---------------------------------------------------------------------------------------------
# max_connections of RDS MySQL per class: {DBInstanceClassMemory/12582880}. DBInstanceClassMemory
# is the class's memory minus what RDS reserves for the OS and its agents; 1 GiB classes report
# about 66 (not the nominal 1073741824/12582880 = 85), so the budget uses 66/85 of the nominal value.
# docs/deploy.md ("Connection budget") shows the same table.
MAX_CONNECTIONS = {"db.t4g.micro": 66, "db.t4g.small": 132, "db.t4g.medium": 264, "db.t4g.large": 528}
# Connections kept free: RDS's own rdsadmin/monitoring sessions, an operator's mysql session,
# donut-ops (pool of 2), and a deploy's overlap (old and new environments for a moment).
BUDGET_HEADROOM = 10
ASYNC_EVENT_TYPES = {"Schedule", "ScheduleV2", "CloudWatchEvent", "EventBridgeRule", "S3", "SNS",
                     "CloudWatchLogs", "IoTRule", "AlexaSkill", "Cognito"}
FAILURE_STATES = ["CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_FAILED",
                  "UPDATE_ROLLBACK_COMPLETE", "DELETE_FAILED"]


def condition_value(t: Template, cond, params: dict) -> bool | None:
    """Evaluates a condition (name or expression) for the given parameter values; None if unknown."""
    if isinstance(cond, str):
        expr = ((t.data.get("Conditions") or {}).get(cond))
        return None if expr is None else condition_value(t, expr, params)
    if not isinstance(cond, dict) or len(cond) != 1:
        return None
    (op, args), = cond.items()

    def val(x):
        if isinstance(x, dict) and set(x) == {"Ref"}:
            return params.get(x["Ref"], (t.parameters.get(x["Ref"]) or {}).get("Default"))
        if isinstance(x, dict) and set(x) == {"Fn::Join"}:
            sep, items = x["Fn::Join"]
            items = val(items)
            return None if items is None else sep.join(str(i) for i in as_list(items))
        return x

    if op == "Condition":
        return condition_value(t, args, params)
    if op == "Fn::Equals":
        a, b = (val(v) for v in args)
        return None if a is None or b is None else str(a) == str(b)
    if op == "Fn::Not":
        v = condition_value(t, args[0], params)
        return None if v is None else not v
    if op in ("Fn::And", "Fn::Or"):
        vals = [condition_value(t, c, params) for c in args]
        if None in vals:
            return None
        return all(vals) if op == "Fn::And" else any(vals)
    return None


def resolve(t: Template, x, params: dict):
    """Value of an expression made of literals, Refs to parameters and Fn::If, for these parameters."""
    if isinstance(x, dict) and set(x) == {"Fn::If"}:
        cond, yes, no = x["Fn::If"]
        v = condition_value(t, cond, params)
        return None if v is None else resolve(t, yes if v else no, params)
    if isinstance(x, dict) and set(x) == {"Ref"} and x["Ref"] in t.parameters:
        return params.get(x["Ref"], (t.parameters[x["Ref"]] or {}).get("Default"))
    return x


def depends_on(res: dict) -> set[str]:
    return set(as_list(res.get("DependsOn")))


def database_secret_ids(t: Template) -> set[str]:
    return refs(t.globals_fn.get("Environment", {}).get("Variables", {}).get("DB_SECRET_ARN"))


def database_functions(t: Template) -> dict[str, str]:
    """logical id -> binary of every function that gets database credentials: its DB_SECRET_ARN is
    set and its policies grant secretsmanager:GetSecretValue on the secret it names."""
    out = {}
    for lid, fn in t.functions().items():
        secret = t.env(fn).get("DB_SECRET_ARN")
        if secret is None:
            continue
        target = refs(secret)
        if any(refs(s.get("Resource")) & target for s in t.grants(lid, "secretsmanager:GetSecretValue")):
            out[lid] = t.binary(fn)
    return out


def migrations_resources(t: Template) -> dict[str, set[str]]:
    """custom resource id -> the functions its ServiceToken invokes."""
    out = {}
    for rid, res in t.resources.items():
        if str(res.get("Type", "")).startswith("Custom::") or res.get("Type") == "AWS::CloudFormation::CustomResource":
            fns = refs((res.get("Properties") or {}).get("ServiceToken")) & set(t.functions())
            if fns:
                out[rid] = fns
    return out


def concurrency_cap(t: Template, lid: str) -> tuple[object, str] | None:
    """(expression, where) of the cap on a function's concurrent executions: its
    ReservedConcurrentExecutions, or - for a function whose only trigger is an SQS event source
    mapping - the mapping's ScalingConfig.MaximumConcurrency."""
    fn = t.resources[lid]
    reserved = (fn.get("Properties") or {}).get("ReservedConcurrentExecutions")
    if reserved is not None:
        return reserved, "ReservedConcurrentExecutions"
    events = ((fn.get("Properties") or {}).get("Events") or {})
    mappings = [p for f, _, p in queue_consumers(t) if f == lid]
    if mappings and not events:
        caps = [((p.get("ScalingConfig") or {}).get("MaximumConcurrency")) for p in mappings]
        if all(c is not None for c in caps):
            if len(caps) == 1:
                return caps[0], "event source mapping ScalingConfig.MaximumConcurrency"
            return {"Sum": caps}, "sum of the event source mappings' MaximumConcurrency"
    return None


def number_at(t: Template, x, params: dict | None = None) -> float | None:
    if isinstance(x, dict) and set(x) == {"Sum"}:
        vals = [number_at(t, v, params) for v in x["Sum"]]
        return None if None in vals else sum(vals)
    v = resolve(t, x, params or {})
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def async_functions(t: Template) -> dict[str, str]:
    """Functions some AWS service invokes asynchronously: schedules and other event-style events,
    CloudWatch Logs subscription filters, EventBridge rules."""
    out = {}
    for lid, fn in t.functions().items():
        for ev in (((fn.get("Properties") or {}).get("Events")) or {}).values():
            if ev.get("Type") in ASYNC_EVENT_TYPES:
                out[lid] = f"{ev.get('Type')} event"
    for f in t.of_type("AWS::Logs::SubscriptionFilter").values():
        for lid in refs((f.get("Properties") or {}).get("DestinationArn")) & set(t.functions()):
            out[lid] = "CloudWatch Logs subscription filter"
    for rule in t.of_type("AWS::Events::Rule").values():
        for target in as_list((rule.get("Properties") or {}).get("Targets")):
            for lid in refs(target.get("Arn")) & set(t.functions()):
                out[lid] = "EventBridge rule"
    return out


def sam_transformed(t: Template) -> dict | None:
    """The template after the SAM transform (offline), or None when samtranslator is unavailable."""
    try:
        from samtranslator.translator.transform import transform  # noqa: PLC0415
    except ImportError:
        return None

    class NoManagedPolicies:
        def load(self):
            return {}

    data = copy.deepcopy(t.data)
    data.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = "s3://bucket/key"
    for fn in data.get("Resources", {}).values():
        if fn.get("Type") == "AWS::Serverless::Function":
            (fn.get("Properties") or {}).pop("CodeUri", None)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(data, {}, NoManagedPolicies())


def transformed_or_fail(t: Template, r: Results) -> dict | None:
    """sam_transformed (once per template), with a transform error reported as a failure instead
    of a crash."""
    import logging  # noqa: PLC0415

    if "sam" in t.__dict__:
        return t.__dict__["sam"]
    # samtranslator warns about its own feature toggles on every DeploymentPreference.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    try:
        t.__dict__["sam"] = sam_transformed(t)
    except Exception as e:  # noqa: BLE001 - samtranslator raises its own exception types
        r.check(False, "the SAM transform accepts the template", str(e)[:500])
        t.__dict__["sam"] = None
    return t.__dict__["sam"]


def config_rs_env() -> tuple[set[str], set[str]]:
    """(required, optional) variables lambdas/inventory/src/config.rs reads - database_from_env and
    the other shared helpers every database function goes through."""
    path = ROOT / "lambdas" / "inventory" / "src" / "config.rs"
    if not path.exists():
        return set(), set()
    f = code_facts(path)
    return f.required, f.optional


def check_deploy_safety(t: Template, r: Results, use_code: bool) -> None:
    r.begin("deploy safety: migrations, rollback, connection budget, async failures, TLS")
    deploy_md = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    db_fns = database_functions(t)
    r.check(bool(db_fns), "some functions get database credentials (DB_SECRET_ARN + GetSecretValue on it)")
    migrations = migrations_resources(t)
    migrate_fns = {f for fns in migrations.values() for f in fns}
    r.check(bool(migrations) and migrate_fns <= set(db_fns),
            "a custom resource runs the migrations with a database function", f"{migrations}")
    # 1. every database function other than migrate is created/updated after the migrations ran
    for lid in sorted(set(db_fns) - migrate_fns):
        r.check(bool(depends_on(t.resources[lid]) & set(migrations)),
                f"{db_fns[lid]}: DependsOn the migrations ({', '.join(sorted(migrations))})",
                "it could serve before its schema exists (create) or before its migration ran (update)")

    # 2. a failed first create can roll back: no deletion protection by default, snapshot kept
    for rid, db in t.of_type("AWS::RDS::DBInstance").items():
        p = db.get("Properties") or {}
        dp = resolve(t, p.get("DeletionProtection", False), {})
        r.check(str(dp).lower() == "false", f"{rid}: DeletionProtection is false by default",
                f"default {dp!r}: a failed first create cannot delete the instance (ROLLBACK_FAILED)")
        r.check(db.get("DeletionPolicy") == "Snapshot" and db.get("UpdateReplacePolicy") == "Snapshot",
                f"{rid}: DeletionPolicy and UpdateReplacePolicy Snapshot (final snapshot kept)")
    for state in FAILURE_STATES:
        r.check(state in deploy_md, f"docs/deploy.md: how to recover from {state}")
    for command in ("continue-update-rollback", "--retain-resources", "DeletionProtection=true"):
        r.check(command in deploy_md, f"docs/deploy.md mentions {command}")

    # 3. connection budget at the defaults
    dbs = t.of_type("AWS::RDS::DBInstance")
    for rid, db in dbs.items():
        p = db.get("Properties") or {}
        cls = resolve(t, p.get("DBInstanceClass"), {})
        limit = MAX_CONNECTIONS.get(str(cls))
        if not r.check(limit is not None, f"{rid}: max_connections of {cls} is known",
                       f"add it to MAX_CONNECTIONS (known: {', '.join(MAX_CONNECTIONS)})"):
            continue
        cls_expr = p.get("DBInstanceClass")
        if isinstance(cls_expr, dict) and set(cls_expr) == {"Ref"}:
            allowed = as_list((t.parameters.get(cls_expr["Ref"]) or {}).get("AllowedValues"))
            r.check(bool(allowed) and all(a in MAX_CONNECTIONS for a in allowed),
                    f"{rid}: every allowed instance class has a known max_connections", f"{allowed}")
            for a in allowed:
                r.check(a in deploy_md, f"docs/deploy.md: connection budget for {a}")
        total = 0.0
        lines = []
        for lid in sorted(db_fns):
            fn = t.resources[lid]
            pool = number_at(t, t.env(fn).get("DB_MAX_CONNECTIONS"))
            if lid in migrate_fns:
                cap = number_at(t, (fn.get("Properties") or {}).get("ReservedConcurrentExecutions", 1))
                r.check(pool == 1, f"{db_fns[lid]}: DB_MAX_CONNECTIONS 1 (migrations use one connection)",
                        f"got {t.env(fn).get('DB_MAX_CONNECTIONS')!r}")
                where = "custom resource, one invocation"
            else:
                found = concurrency_cap(t, lid)
                if not r.check(found is not None, f"{db_fns[lid]}: has a concurrency cap",
                               "ReservedConcurrentExecutions (or an SQS mapping's MaximumConcurrency as its only trigger)"):
                    continue
                expr, where = found
                r.check(bool(refs(expr) & set(t.parameters)), f"{db_fns[lid]}: its cap is a template parameter",
                        f"{where} is {expr!r}")
                cap = number_at(t, expr)
            if not r.check(cap is not None and pool is not None, f"{db_fns[lid]}: cap and pool size are numbers",
                           f"cap {cap!r}, DB_MAX_CONNECTIONS {pool!r}"):
                continue
            total += cap * pool
            lines.append(f"{db_fns[lid]} {cap:g} x {pool:g} ({where})")
        total += BUDGET_HEADROOM
        r.note(f"connection budget at the defaults: {' + '.join(lines)} + headroom {BUDGET_HEADROOM} "
               f"= {total:g} of max_connections {limit} ({cls})")
        r.check(total <= limit, f"{rid}: connection budget {total:g} <= max_connections {limit} of {cls}",
                "lower a concurrency cap or DbMaxConnections, or choose a larger DatabaseInstanceClass")
        # the parameter group: Lambda-friendly timeouts, family from the engine version
        groups = refs(p.get("DBParameterGroupName")) & set(t.of_type("AWS::RDS::DBParameterGroup"))
        if r.check(bool(groups), f"{rid}: a DB parameter group of this stack is attached"):
            for gid in groups:
                gp = t.resources[gid].get("Properties") or {}
                params = gp.get("Parameters") or {}
                for name in ("wait_timeout", "interactive_timeout"):
                    v = number_at(t, params.get(name))
                    r.check(v is not None and 60 <= v <= 900, f"{gid}: {name} between 60 and 900 s",
                            f"got {params.get(name)!r} (MySQL's default is 28800)")
                engine = p.get("EngineVersion")
                versions = ([str(v) for v in as_list((t.parameters.get(engine["Ref"]) or {}).get("AllowedValues"))]
                            if isinstance(engine, dict) and set(engine) == {"Ref"} else [str(engine)])
                for v in versions:
                    pv = {engine["Ref"]: v} if isinstance(engine, dict) else {}
                    fam = resolve(t, gp.get("Family"), pv)
                    want = "mysql" + ".".join(v.split(".")[:2])
                    r.check(fam == want, f"{gid}: Family {want} for engine {v}", f"got {fam!r}")
    r.check(any(res.get("Condition") for res in t.of_type("AWS::RDS::DBProxy").values())
            and "UseRdsProxy" in t.parameters, "RDS Proxy: a UseRdsProxy parameter and a conditional DBProxy")
    proxies = set(t.of_type("AWS::RDS::DBProxy"))
    r.check(bool(refs(t.globals_fn.get("Environment", {}).get("Variables", {}).get("DB_HOST")) & proxies),
            "RDS Proxy: DB_HOST is the proxy endpoint when it is created")

    # 6. on-failure destinations of asynchronously invoked functions
    asyncs = async_functions(t)
    r.check(bool(asyncs), "some functions are invoked asynchronously")
    transformed = transformed_or_fail(t, r)
    outputs = (t.data.get("Outputs") or {})
    # The real donut-ops source (the self-test's synthetic workspace replaces every main.rs).
    ops_text = ops_source()
    for lid, how in sorted(asyncs.items()):
        cfg = ((t.resources[lid].get("Properties") or {}).get("EventInvokeConfig") or {})
        on_failure = ((cfg.get("DestinationConfig") or {}).get("OnFailure") or {})
        queues = refs(on_failure.get("Destination")) & set(t.of_type("AWS::SQS::Queue"))
        who = f"{t.binary(t.resources[lid])} ({how})"
        if not r.check(on_failure.get("Type") == "SQS" and bool(queues),
                       f"{who}: EventInvokeConfig OnFailure -> an SQS queue",
                       "after Lambda's retries a failed event would be gone"):
            continue
        for q in queues:
            check_dlq_alarm(t, r, who, q)
            if transformed is not None:
                role = (transformed["Resources"].get(f"{lid}Role") or {}).get("Properties") or {}
                stmts = [s for pol in as_list(role.get("Policies"))
                         for s in as_list((pol.get("PolicyDocument") or {}).get("Statement"))]
                r.check(any(s.get("Effect") == "Allow" and "sqs:SendMessage" in as_list(s.get("Action"))
                            and q in refs(s.get("Resource")) for s in stmts),
                        f"{who}: its role may sqs:SendMessage to {q} (after the SAM transform)")
            else:
                r.note("samtranslator not importable: the destination's IAM is not checked")
            out_names = [k for k, o in outputs.items() if q in refs((o or {}).get("Value"))]
            r.check(bool(out_names), f"{who}: {q} is a stack output")
            r.check(any(n in ops_text for n in out_names), f"{who}: donut-ops reads {q}'s output",
                    f"none of {out_names} in infra/ops/src")

    # issue 11: the CA bundle and its layer for every database function
    for lid in sorted(db_fns):
        fn = t.resources[lid]
        r.check("DatabaseCaBundle" in refs(t.env(fn).get("DB_CA_BUNDLE")),
                f"{db_fns[lid]}: DB_CA_BUNDLE from the DatabaseCaBundle parameter")
        layers = t.prop(fn, "Layers")
        r.check("DatabaseCaLayerArn" in refs(layers) and isinstance(layers, dict) and "Fn::If" in layers,
                f"{db_fns[lid]}: Layers has the DatabaseCaLayerArn layer (conditionally)")
    if use_code:
        required, optional = config_rs_env()
        shared_db = {v for v in (t.globals_fn.get("Environment", {}).get("Variables", {})) if v.startswith("DB_")}
        for var in sorted(shared_db):
            r.check(var in required | optional, f"{var} (Globals) is read by lambdas/inventory/src/config.rs",
                    "set for every function but read by no code")


# Issue 21: what a new account, the RDS Proxy and the capture bucket need.
LAMBDA_MIN_UNRESERVED = 100
MYSQL_USER_MAX = 32
CAPTURE_PREFIXES = ("rawdata/", "exports/")  # Firehose's S3 prefix and the exporter's (docs/capture.md)
# ClientPasswordAuthType per engine major version (AWS RDS API, UserAuthConfig): caching_sha2 is
# MySQL 8.4's default plugin (mysql_native_password is deprecated and off by default there).
PROXY_CLIENT_AUTH = {"8.4": {"MYSQL_CACHING_SHA2_PASSWORD"},
                     "8.0": {"MYSQL_CACHING_SHA2_PASSWORD", "MYSQL_NATIVE_PASSWORD"}}


def _is_no_value(x) -> bool:
    return isinstance(x, dict) and x == {"Ref": "AWS::NoValue"}


def _allows_port(rule: dict, port: int) -> bool:
    proto = str(rule.get("IpProtocol", ""))
    if proto == "-1":
        return True
    try:
        return proto in ("tcp", "6") and int(rule.get("FromPort")) <= port <= int(rule.get("ToPort"))
    except (TypeError, ValueError):
        return False


def sg_rules(t: Template, group: str, direction: str) -> list[tuple[dict, object]]:
    """(rule, condition) of a security group's inline and standalone rules; direction Ingress/Egress."""
    res = t.resources.get(group) or {}
    out = [(rule, res.get("Condition")) for rule in as_list((res.get("Properties") or {}).get(f"SecurityGroup{direction}"))]
    for other in t.of_type(f"AWS::EC2::SecurityGroup{direction}").values():
        props = other.get("Properties") or {}
        if group in refs(props.get("GroupId")):
            out.append((props, other.get("Condition")))
    return out


def check_day_two(t: Template, r: Results) -> None:
    r.begin("day two: new accounts, the RDS Proxy, TLS, DatabaseName, captured data")
    deploy_md = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    # 1. No reserved concurrency forced: 0 or empty turns it off (AWS::NoValue).
    reserved = {lid: (fn.get("Properties") or {}).get("ReservedConcurrentExecutions")
                for lid, fn in t.functions().items()
                if (fn.get("Properties") or {}).get("ReservedConcurrentExecutions") is not None}
    r.check(bool(reserved), "some functions reserve concurrency (their cap)")
    for lid, x in sorted(reserved.items()):
        who = t.binary(t.resources[lid])
        ok = isinstance(x, dict) and set(x) == {"Fn::If"} and _is_no_value(x["Fn::If"][2])
        params = refs(x["Fn::If"][1]) & set(t.parameters) if ok else set()
        if not r.check(ok and len(params) == 1,
                       f"{who}: ReservedConcurrentExecutions is !If [cond, !Ref <parameter>, !Ref AWS::NoValue]",
                       f"got {x!r}: an account whose quota cannot keep {LAMBDA_MIN_UNRESERVED} unreserved fails the create"):
            continue
        (param,) = params
        cond = x["Fn::If"][0]
        for off in ("0", ""):
            r.check(condition_value(t, cond, {param: off}) is False,
                    f"{who}: {param}={off!r} reserves nothing")
        r.check(condition_value(t, cond, {}) is True, f"{who}: the default {param} reserves (the connection budget)")
        r.check(re.fullmatch((t.parameters[param] or {}).get("AllowedPattern", ".*"), "") is not None
                and (t.parameters[param] or {}).get("Type") == "String",
                f"{who}: {param} accepts an empty value (String)")
    r.check(any(w in deploy_md for w in ("error 1040", "1040 ")) and "Retry-After" in deploy_md
            and "donut-ops preflight" in deploy_md,
            "docs/deploy.md: how the budget holds without reservations (1040 -> 503 Retry-After) and preflight")
    err_rs = ROOT / "lambdas" / "inventory" / "src" / "store" / "error.rs"
    if err_rs.exists():
        src = err_rs.read_text(encoding="utf-8")
        r.check(re.search(r"\b1040\b[^\n]*=>\s*StoreError::Unavailable", src) is not None,
                "store/error.rs maps MySQL 1040 (too many connections) to Unavailable (503 + Retry-After)")
    # Availability zones: a parameter (with !GetAZs as the fallback).
    subnets = t.of_type("AWS::EC2::Subnet")
    for sid, sub in sorted(subnets.items()):
        az = (sub.get("Properties") or {}).get("AvailabilityZone")
        r.check("AvailabilityZones" in refs(az), f"{sid}: its zone comes from the AvailabilityZones parameter",
                f"got {az!r}: !GetAZs may pick a zone Lambda does not support for VPC functions")

    # 2. The RDS Proxy reaches Secrets Manager, and clients authenticate as MySQL 8.4 expects.
    endpoints = {eid: e for eid, e in t.of_type("AWS::EC2::VPCEndpoint").items()
                 if "secretsmanager" in text_of((e.get("Properties") or {}).get("ServiceName"))}
    engine = t.parameters.get("DatabaseEngineVersion") or {}
    versions = [str(v) for v in as_list(engine.get("AllowedValues"))] or [str(engine.get("Default", ""))]
    for pid, proxy in sorted(t.of_type("AWS::RDS::DBProxy").items()):
        props = proxy.get("Properties") or {}
        groups = refs(props.get("VpcSecurityGroupIds"))
        for scenario, params in (("with interface endpoints", {"UseRdsProxy": "true", "InterfaceEndpoints": "true"}),
                                 ("without interface endpoints", {"UseRdsProxy": "true", "InterfaceEndpoints": "false"})):
            def on(cond) -> bool:
                return cond is None or condition_value(t, cond, params) is True
            live_eps = {eid: e for eid, e in endpoints.items() if on(e.get("Condition"))}
            ep_groups = {g for e in live_eps.values() for g in refs((e.get("Properties") or {}).get("SecurityGroupIds"))}
            egress = [rule for g in groups for rule, cond in sg_rules(t, g, "Egress") if on(cond) and _allows_port(rule, 443)]
            if live_eps:
                reach = [rule for rule in egress if refs(rule.get("DestinationSecurityGroupId")) & ep_groups
                         or rule.get("CidrIp") == "0.0.0.0/0"]
                admitted = [rule for g in ep_groups for rule, cond in sg_rules(t, g, "Ingress")
                            if on(cond) and _allows_port(rule, 443) and refs(rule.get("SourceSecurityGroupId")) & groups]
                r.check(bool(reach), f"{pid} {scenario}: its security group allows 443 out to the Secrets Manager endpoint",
                        "the proxy cannot read its secrets: targets stay unavailable")
                r.check(bool(admitted), f"{pid} {scenario}: the endpoint's security group admits 443 from the proxy's group")
            else:
                r.check(any(rule.get("CidrIp") == "0.0.0.0/0" for rule in egress),
                        f"{pid} {scenario}: its security group allows 443 out (Secrets Manager through the NAT)")
        for auth in as_list(props.get("Auth")):
            secret = text_of(auth.get("SecretArn"))
            for v in versions:
                got = resolve(t, auth.get("ClientPasswordAuthType"), {"DatabaseEngineVersion": v})
                r.check(got in PROXY_CLIENT_AUTH.get(v, set()),
                        f"{pid}: ClientPasswordAuthType for MySQL {v} ({secret[:40]})",
                        f"got {got!r}, expected one of {sorted(PROXY_CLIENT_AUTH.get(v, set()))}")
    r.check("AmazonRootCA1" in deploy_md, "docs/deploy.md: the CA bundle the proxy needs (Amazon Root CA 1)")

    # 3. TLS required by the server.
    for rid, db in t.of_type("AWS::RDS::DBInstance").items():
        for gid in refs((db.get("Properties") or {}).get("DBParameterGroupName")) & set(t.of_type("AWS::RDS::DBParameterGroup")):
            v = ((t.resources[gid].get("Properties") or {}).get("Parameters") or {}).get("require_secure_transport")
            r.check(str(v).upper() in ("1", "ON", "TRUE"), f"{gid}: require_secure_transport on",
                    f"got {v!r}: the server accepts plain-text connections")

    # 4. DatabaseName leaves room for the application user's suffix.
    app_secret = "".join(text_of(s.get("Properties", {}).get("GenerateSecretString", {}).get("SecretStringTemplate"))
                         for s in t.of_type("AWS::SecretsManager::Secret").values())
    m = re.search(r"\$\{DatabaseName\}(_?[A-Za-z0-9_]*)", app_secret)
    suffix = m.group(1) if m else "_app"
    room = MYSQL_USER_MAX - len(suffix)
    dbp = t.parameters.get("DatabaseName") or {}
    pattern = dbp.get("AllowedPattern", ".*")
    r.check(int(dbp.get("MaxLength", 10**6)) <= room, f"DatabaseName: MaxLength <= {room} (user <name>{suffix} <= {MYSQL_USER_MAX})",
            f"MaxLength {dbp.get('MaxLength')!r}")
    r.check(re.fullmatch(pattern, "a" * (room + 1)) is None and re.fullmatch(pattern, "a" * room) is not None,
            f"DatabaseName: AllowedPattern accepts {room} characters and refuses {room + 1}", pattern)

    # 5. Captured data expires.
    capture_md = (ROOT / "docs" / "capture.md").read_text(encoding="utf-8")
    retention: set[str] = set()
    for bid, bucket in t.of_type("AWS::S3::Bucket").items():
        rules = ((bucket.get("Properties") or {}).get("LifecycleConfiguration") or {}).get("Rules") or []
        for prefix in CAPTURE_PREFIXES:
            hits = [rule for rule in rules if rule.get("Status") == "Enabled"
                    and prefix.startswith(str(rule.get("Prefix") or (rule.get("Filter") or {}).get("Prefix") or ""))
                    and rule.get("ExpirationInDays") is not None]
            days = {p for rule in hits for p in refs(rule.get("ExpirationInDays")) & set(t.parameters)}
            r.check(bool(hits) and bool(days), f"{bid}: objects under {prefix} expire after a parameter's days",
                    "kept forever (a storage class transition is not an expiration)")
            retention |= days
    for p in sorted(retention):
        r.check(p in capture_md, f"docs/capture.md (PII policy) names {p}")


def secret_reads(t: Template, lid: str) -> set[str]:
    """Everything a function's secretsmanager:GetSecretValue grants name (ids and parameters)."""
    return {x for s in t.grants(lid, "secretsmanager:GetSecretValue") for x in refs(s.get("Resource"))}


def check_least_privilege(t: Template, r: Results) -> None:
    """Issue 12, point 5: the functions log in as an application user with DML only; the admin
    secret is migrate's alone; the application secret is rotated by the managed rotation."""
    import string  # noqa: PLC0415

    r.begin("least privilege in the database: admin secret for migrate only, an application user for the rest")
    db_fns = database_functions(t)
    migrate_fns = {f for fns in migrations_resources(t).values() for f in fns}
    admin: set[str] = set()
    app: set[str] = set()
    for lid in sorted(migrate_fns):
        env = t.env(t.resources[lid])
        admin |= refs(env.get("DB_SECRET_ARN"))
        ids = refs(env.get("DB_APP_SECRET_ARN"))
        r.check(bool(ids) and t.types_of(ids) == {"AWS::SecretsManager::Secret"},
                f"{t.binary(t.resources[lid])}: DB_APP_SECRET_ARN is a secret of this stack",
                f"points at {sorted(ids)}")
        app |= ids
    r.check(bool(admin) and "AWS::RDS::DBInstance" in t.types_of(admin),
            "migrate's DB_SECRET_ARN is the admin secret (RDS master, or ExistingDatabaseSecretArn)",
            f"points at {sorted(admin)}")
    if not r.check(bool(app) and not app & admin, "the application secret is not the admin secret",
                   f"app {sorted(app)}, admin {sorted(admin)}"):
        return
    # 1. who may read which secret
    for lid, fn in sorted(t.functions().items()):
        who = t.binary(fn) or lid
        reads = secret_reads(t, lid)
        if lid in migrate_fns:
            r.check(admin <= reads and app <= reads, f"{who}: reads the admin and the application secret")
            continue
        r.check(not reads & admin, f"{who}: cannot read the admin secret (only migrate may)",
                f"its GetSecretValue grants name {sorted(reads & admin)}")
    for lid in sorted(set(db_fns) - migrate_fns):
        ids = refs(t.env(t.resources[lid]).get("DB_SECRET_ARN"))
        r.check(ids == app, f"{db_fns[lid]}: DB_SECRET_ARN is the application user's secret ({', '.join(sorted(app))})",
                f"points at {sorted(ids)}")
    glob = refs(((t.globals_fn.get("Environment") or {}).get("Variables") or {}).get("DB_SECRET_ARN"))
    r.check(not glob or glob == app, "Globals DB_SECRET_ARN (a new function's default) is the application secret",
            f"points at {sorted(glob)}")
    # 2. the application secret: generated, letters and digits, what the rotation function reads
    for sid in sorted(app):
        gen = (((t.resources.get(sid) or {}).get("Properties") or {}).get("GenerateSecretString") or {})
        tpl = gen.get("SecretStringTemplate")
        text = tpl["Fn::Sub"] if isinstance(tpl, dict) and "Fn::Sub" in tpl else tpl
        text = text[0] if isinstance(text, list) else text
        r.check(isinstance(text, str) and gen.get("GenerateStringKey") == "password",
                f"{sid}: generated {{..., \"password\"}} from a SecretStringTemplate")
        keys = set(re.findall(r'"([a-z]+)"\s*:', text)) if isinstance(text, str) else set()
        r.check({"username", "engine", "host"} <= keys,
                f"{sid}: the template has username, engine and host (the rotation function needs them)",
                f"keys {sorted(keys)}")
        r.check(str(gen.get("ExcludePunctuation")).lower() == "true",
                f"{sid}: ExcludePunctuation (migrate accepts letters and digits only)")
        r.check(number_at(t, gen.get("PasswordLength")) is not None and number_at(t, gen.get("PasswordLength")) >= 16,
                f"{sid}: PasswordLength >= 16", f"got {gen.get('PasswordLength')!r}")
    # 3. managed rotation after the migrations, in migrate's network, never with punctuation
    transforms = as_list(t.data.get("Transform"))
    schedules = {rid: res for rid, res in t.of_type("AWS::SecretsManager::RotationSchedule").items()
                 if refs((res.get("Properties") or {}).get("SecretId")) & app}
    if r.check(bool(schedules), "the application secret has a RotationSchedule"):
        r.check(any(str(x).startswith("AWS::SecretsManager-") for x in transforms),
                "Transform includes AWS::SecretsManager-* (HostedRotationLambda)", f"got {transforms}")
        migrate_net = set().union(*(refs((t.resources[f].get("Properties") or {}).get("VpcConfig"))
                                    for f in migrate_fns)) if migrate_fns else set()
        for rid, res in sorted(schedules.items()):
            hosted = (res.get("Properties") or {}).get("HostedRotationLambda") or {}
            r.check(hosted.get("RotationType") == "MySQLSingleUser", f"{rid}: HostedRotationLambda MySQLSingleUser",
                    f"got {hosted.get('RotationType')!r}")
            excluded = hosted.get("ExcludeCharacters")
            missing = set(string.punctuation) - set(excluded if isinstance(excluded, str) else "")
            r.check(not missing, f"{rid}: ExcludeCharacters has every punctuation character",
                    f"missing {''.join(sorted(missing))!r}: a rotated password migrate would refuse")
            r.check(bool(depends_on(res) & set(migrations_resources(t))), f"{rid}: DependsOn the migrations",
                    "the first rotation (at creation) needs the user migrate creates")
            net = refs(hosted.get("VpcSubnetIds")) | refs(hosted.get("VpcSecurityGroupIds"))
            r.check(net == migrate_net, f"{rid}: runs in migrate's subnets and security group (reaches the database)",
                    f"rotation {sorted(net)}, migrate {sorted(migrate_net)}")
    # 4. an RDS Proxy must admit the application user
    for pid, proxy in sorted(t.of_type("AWS::RDS::DBProxy").items()):
        auth = refs([a.get("SecretArn") for a in as_list((proxy.get("Properties") or {}).get("Auth"))])
        r.check(app <= auth and bool(auth & admin), f"{pid}: Auth has the admin and the application secret",
                f"has {sorted(auth)}")


def check_guided_questions(t: Template, r: Results, template_path: Path) -> None:
    """docs/deploy.md lists every question `sam deploy --guided` asks for this template, in order:
    computed with SAM CLI's own code (template parameters, then the authorization prompts)."""
    r.begin("docs/deploy.md: the questions of `sam deploy --guided`")
    deploy_md = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- guided-questions -->(.*?)<!-- /guided-questions -->", deploy_md, flags=re.S)
    if not r.check(m is not None, "docs/deploy.md has a <!-- guided-questions --> ... <!-- /guided-questions --> table"):
        return
    section = [None, m.group(1)]
    rows = [m.group(1).strip() for m in re.finditer(r"^\|\s*\d+\s*\|\s*`?([^`|]+?)`?\s*\|", section[1], flags=re.M)]
    expected = ["Stack Name", "AWS Region"] + [f"Parameter {p}" for p in t.parameters] + [
        "Confirm changes before deploy", "Allow SAM CLI IAM role creation", "Disable rollback"]
    try:
        from samcli.commands.deploy.auth_utils import auth_per_resource  # noqa: PLC0415
        from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider  # noqa: PLC0415

        stacks, _ = SamLocalStackProvider.get_stacks(str(template_path), parameter_overrides={},
                                                     global_parameter_overrides={"AWS::Region": "us-east-1"})
        auth = [f"{name} has no authentication. Is this okay?" for name, ok in auth_per_resource(stacks) if not ok]
    except Exception as e:  # noqa: BLE001
        r.note(f"SAM CLI not importable ({e}): authorization prompts derived from the template instead")
        auth = []
        for lid, fn in t.functions().items():
            for ev in (((fn.get("Properties") or {}).get("Events")) or {}).values():
                if ev.get("Type") in ("Api", "HttpApi") and not (ev.get("Properties") or {}).get("Auth"):
                    auth.append(f"{lid} has no authentication. Is this okay?")
            if ((fn.get("Properties") or {}).get("FunctionUrlConfig") or {}).get("AuthType") == "NONE":
                auth.append(f"{lid} Function Url has no authentication. Is this okay?")
    # One row per distinct prompt text; the docs give the repeat count in the answer column.
    distinct_auth = list(dict.fromkeys(auth))
    expected += distinct_auth + ["Save arguments to configuration file", "SAM configuration file",
                                 "SAM configuration environment"]
    r.check(rows == expected, "docs/deploy.md lists the guided questions in the order SAM asks them",
            "\n      docs:     " + "; ".join(rows) + "\n      expected: " + "; ".join(expected))
    for prompt in distinct_auth:
        n = auth.count(prompt)
        if n > 1:
            r.check(bool(re.search(rf"{re.escape(prompt)}.*asked {n} times", section[1])),
                    f"docs/deploy.md says '{prompt}' is asked {n} times")
    costs = deploy_md.split("## 10. Costs")[-1] if "## 10. Costs" in deploy_md else ""
    for item in ("NAT gateway", "db.t4g.micro", "storage", "interface endpoints", "Kinesis", "Firehose", "S3",
                 "alarms", "dashboard", "Secrets Manager", "Lambda", "API Gateway", "RDS Proxy"):
        r.check(item.lower() in costs.lower(), f"docs/deploy.md costs: {item}")


TOOLS = ["moto", "cargo-lambda", "aws-sam-cli", "cfn-lint", "k6", "schemathesis"]


def check_tool_pins(r: Results) -> None:
    """requirements-tools.txt pins every tool (and dependency) exactly; setup-venv.sh installs from it."""
    r.begin("pinned tools: requirements-tools.txt and scripts/setup-venv.sh")
    req = ROOT / "requirements-tools.txt"
    setup = ROOT / "scripts" / "setup-venv.sh"
    if not r.check(req.exists(), "requirements-tools.txt exists"):
        return
    pins: dict[str, str] = {}
    for line in req.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9._-]+)(\[[A-Za-z0-9_,-]+\])?==([A-Za-z0-9.+!-]+)", line)
        if r.check(m is not None, f"requirements-tools.txt: {line} is an exact pin (name==version)"):
            pins[m.group(1).lower().replace("_", "-")] = m.group(3)
    for tool in TOOLS:
        r.check(tool in pins, f"requirements-tools.txt pins {tool}")
    r.check(bool(re.search(r"^moto\[server\]==", req.read_text(encoding="utf-8"), flags=re.M)),
            "requirements-tools.txt installs moto with its [server] extra")
    text = setup.read_text(encoding="utf-8") if setup.exists() else ""
    r.check("requirements-tools.txt" in text and re.search(r"pip\"? install[^\n]*-r ", text) is not None,
            "setup-venv.sh installs with pip install -r requirements-tools.txt")
    r.check(re.search(r"sha1sum \"\$REQUIREMENTS\"|sha(1|256)sum[^\n]*requirements-tools", text) is not None,
            "setup-venv.sh's stamp is the requirements file's hash (a changed pin reinstalls)")
    r.check(not re.search(r"want=\(|pip\"? install[^\n]*(cargo-lambda|aws-sam-cli|cfn-lint)\b", text),
            "setup-venv.sh installs no unpinned tool")
    # The interpreter running this check is usually the venv's: it must hold the pinned versions.
    if Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():
        from importlib import metadata  # noqa: PLC0415

        for tool in TOOLS:
            try:
                have = metadata.version(tool)
            except metadata.PackageNotFoundError:
                have = None
            r.check(have == pins.get(tool), f".venv has {tool}=={pins.get(tool)}",
                    f"installed {have}: run ./scripts/setup-venv.sh")


def markdown_anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings (fenced code blocks skipped)."""
    anchors, fenced = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if m and not fenced:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


def ops_source() -> str:
    """The real donut-ops source, every file of infra/ops/src (the CLI is split by concern)."""
    root = Path(__file__).resolve().parent.parent / "infra" / "ops" / "src"
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.rs")))


# The donut-ops commands an alarm may send the on-call to (infra/ops: `donut-ops --help`).
OPS_COMMANDS = ("dlq list", "dlq redrive", "failures list", "failures redrive", "orders list", "orders retry",
                "deployments",
                "sku history", "alarms")


def check_alarm_runbooks(t: Template, r: Results) -> None:
    r.begin("alarms: every description names the donut-ops command to run and its runbook section")
    # The real runbook and donut-ops source (the self-test's synthetic workspace has only main.rs files).
    real_root = Path(__file__).resolve().parent.parent
    anchors = markdown_anchors(real_root / "docs" / "operations.md")
    ops_src = ops_source()
    for aid, alarm in sorted(t.of_type("AWS::CloudWatch::Alarm").items()):
        desc = text_of((alarm.get("Properties") or {}).get("AlarmDescription") or "")
        m = re.search(r"donut-ops --stack \$\{AWS::StackName\} ([a-z][a-z -]*?)(?: --[a-z-]+(?: [a-z]+)?)*\.", desc)
        command = m.group(1).strip() if m else ""
        ok = command in OPS_COMMANDS and all(
            re.search(rf"\b{w.capitalize()}\b", ops_src) for w in command.split())
        r.check(ok, f"{aid}: names a donut-ops command (donut-ops --stack ${{AWS::StackName}} <command>)",
                f"description: {desc!r}")
        a = re.search(r"docs/operations\.md#([a-z0-9_-]+)", desc)
        r.check(bool(a) and a.group(1) in anchors, f"{aid}: links a runbook section of docs/operations.md",
                f"anchor {a.group(1) if a else None!r} not among the headings of docs/operations.md")


# ---------------------------------------------------------------------------------------------
# Gradual deployments (issue 24): the functions that serve traffic shift to a new version through
# CodeDeploy, behind a pre-traffic hook, and roll back on alarms that watch the new version.
# ---------------------------------------------------------------------------------------------
# Functions that serve traffic but deploy at once, and why (docs/deploy.md says the same).
GRADUAL_EXEMPT = {"factory-sim": "a stand-in for the legacy Factory API, deployed only without FactoryUrl"}
CANARY_METRICS = ("Errors", "Throttles")
HOOK_ACTIONS = {"lambda:InvokeFunction", "codedeploy:PutLifecycleEventHookExecutionStatus",
                "secretsmanager:GetSecretValue"}
# SAM's predefined deployment configurations (samtranslator: CODEDEPLOY_PREDEFINED_CONFIGURATIONS_LIST).
DEPLOYMENT_TYPES = {"Canary10Percent5Minutes", "Canary10Percent10Minutes", "Canary10Percent15Minutes",
                    "Canary10Percent30Minutes", "Linear10PercentEvery1Minute", "Linear10PercentEvery2Minutes",
                    "Linear10PercentEvery3Minutes", "Linear10PercentEvery10Minutes", "AllAtOnce"}


def traffic_functions(t: Template) -> dict[str, str]:
    """logical id -> what sends it traffic: HTTP API routes, an SQS event source mapping, a
    Function URL (the functions of GRADUAL_EXEMPT left out)."""
    out: dict[str, str] = {}
    for lid, fn in t.functions().items():
        props = fn.get("Properties") or {}
        if any(ev.get("Type") == "HttpApi" for ev in (props.get("Events") or {}).values()):
            out[lid] = "HTTP API routes"
        elif props.get("FunctionUrlConfig"):
            out[lid] = "a Function URL"
    for fid, _, _ in queue_consumers(t):
        out.setdefault(fid, "an SQS event source mapping")
    return {lid: why for lid, why in out.items() if t.binary(t.resources[lid]) not in GRADUAL_EXEMPT}


def _executed_version_of(value, lid: str) -> bool:
    """!GetAtt <lid>.Version.Version, in either GetAtt form."""
    return isinstance(value, dict) and value.get("Fn::GetAtt") in ([lid, "Version.Version"], [f"{lid}.Version", "Version"])


def watches_new_version(t: Template, aid: str, lid: str, alias: str, metric: str) -> tuple[bool, str]:
    """Whether alarm `aid` fires on `metric` of the version of `lid` the template publishes, as
    invoked through its alias (FunctionName, Resource <function>:<alias>, ExecutedVersion)."""
    alarm = t.resources.get(aid) or {}
    if alarm.get("Type") != "AWS::CloudWatch::Alarm":
        return False, "not an alarm of the template"
    p = alarm.get("Properties") or {}
    if p.get("Namespace") != "AWS/Lambda" or p.get("MetricName") != metric:
        return False, f"{p.get('Namespace')} {p.get('MetricName')}"
    dims = {d.get("Name"): d.get("Value") for d in as_list(p.get("Dimensions"))}
    if dims.get("FunctionName") != {"Ref": lid}:
        return False, f"FunctionName {dims.get('FunctionName')!r}"
    if text_of(dims.get("Resource")) != f"${{{lid}}}:{alias}":
        return False, f"Resource {dims.get('Resource')!r}, not ${{{lid}}}:{alias}"
    if not _executed_version_of(dims.get("ExecutedVersion"), lid):
        return False, f"ExecutedVersion {dims.get('ExecutedVersion')!r}, not !GetAtt {lid}.Version.Version"
    ok = (p.get("ComparisonOperator") == "GreaterThanThreshold" and number_at(t, p.get("Threshold")) == 0
          and p.get("TreatMissingData") == "notBreaching")
    return ok, "" if ok else "fires on > 0 with TreatMissingData notBreaching?"


def api_5xx_alarm(t: Template, aid: str) -> bool:
    """An alarm on the HTTP API's 5xx (a plain metric or one of a metric-math alarm's)."""
    p = ((t.resources.get(aid) or {}).get("Properties")) or {}
    metrics = [(p.get("Namespace"), p.get("MetricName"), p.get("Dimensions"))] + [
        (((m.get("MetricStat") or {}).get("Metric") or {}).get("Namespace"),
         ((m.get("MetricStat") or {}).get("Metric") or {}).get("MetricName"),
         ((m.get("MetricStat") or {}).get("Metric") or {}).get("Dimensions"))
        for m in as_list(p.get("Metrics"))]
    apis = set(t.of_type("AWS::Serverless::HttpApi"))
    return any(ns == "AWS/ApiGateway" and mn == "5xx" and refs(dims) & apis for ns, mn, dims in metrics)


def check_gradual_deployments(t: Template, r: Results) -> None:
    r.begin("gradual deployments: alias, preference, canary alarms on the new version, pre-traffic hook")
    deploy_md = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    traffic = traffic_functions(t)
    r.check(bool(traffic), "some functions serve traffic (HTTP API, SQS mapping, Function URL)")
    hooks: dict[str, set[str]] = {}  # hook function -> the traffic functions it guards
    params_seen: set[str] = set()
    aliases: dict[str, str] = {}
    for lid, why in sorted(traffic.items()):
        props = t.resources[lid].get("Properties") or {}
        who = t.binary(t.resources[lid]) or lid
        alias = props.get("AutoPublishAlias")
        if r.check(isinstance(alias, str) and bool(alias), f"{who} ({why}): AutoPublishAlias (each update publishes a "
                   "version; the alias serves)"):
            aliases[lid] = alias
        pref = props.get("DeploymentPreference") or {}
        typ = pref.get("Type")
        params = refs(typ) & set(t.parameters) if isinstance(typ, dict) else set()
        if r.check(len(params) == 1, f"{who}: DeploymentPreference.Type is a template parameter",
                   f"got {typ!r}: one template for a first deploy / development (AllAtOnce) and updates (a canary)"):
            (param,) = params
            spec = t.parameters[param] or {}
            allowed = [str(v) for v in as_list(spec.get("AllowedValues"))]
            r.check(str(spec.get("Default", "")).startswith(("Canary", "Linear")),
                    f"{who}: {param} defaults to a gradual shift (a canary)", f"default {spec.get('Default')!r}")
            r.check("AllAtOnce" in allowed and set(allowed) <= DEPLOYMENT_TYPES,
                    f"{who}: {param} allows AllAtOnce, and only SAM's deployment types", f"{allowed}")
            params_seen.add(param)
        r.check(str(pref.get("Enabled", True)).lower() != "false", f"{who}: DeploymentPreference enabled")
        alarm_ids = {x for a in as_list(pref.get("Alarms")) for x in refs(a)}
        for metric in CANARY_METRICS:
            verdicts = {aid: watches_new_version(t, aid, lid, alias or "?", metric) for aid in sorted(alarm_ids)}
            r.check(any(ok for ok, _ in verdicts.values()),
                    f"{who}: a rollback alarm on the new version's {metric} (FunctionName, Resource "
                    f"<function>:{alias}, ExecutedVersion !GetAtt {lid}.Version.Version)",
                    "; ".join(f"{a}: {w}" for a, (ok, w) in verdicts.items()) or "no DeploymentPreference.Alarms")
        if why == "HTTP API routes":
            r.check(any(api_5xx_alarm(t, a) for a in alarm_ids), f"{who}: a rollback alarm on the HTTP API's 5xx")
        for aid in sorted(alarm_ids):
            r.check(aid in t.of_type("AWS::CloudWatch::Alarm"), f"{who}: rollback alarm {aid} is an alarm of the stack")
        hook = refs((pref.get("Hooks") or {}).get("PreTraffic")) & set(t.functions())
        if r.check(len(hook) == 1, f"{who}: a pre-traffic hook function (DeploymentPreference.Hooks.PreTraffic)"):
            hooks.setdefault(hook.pop(), set()).add(lid)
    # Event source mappings call the alias (CodeDeploy decides which version takes a batch).
    for eid, esm in sorted(t.of_type("AWS::Lambda::EventSourceMapping").items()):
        target = (esm.get("Properties") or {}).get("FunctionName")
        for lid in sorted(refs(target) & set(traffic)):
            r.check(target == {"Ref": f"{lid}.Alias"}, f"{eid}: calls {t.binary(t.resources[lid])}'s alias (!Ref {lid}.Alias)",
                    f"got {target!r}: the function's unqualified ARN runs $LATEST, outside any deployment")
    # After the transform: the API integrations, their permissions and the mappings name the alias.
    transformed = transformed_or_fail(t, r)
    if transformed is not None:
        res = transformed.get("Resources") or {}
        alias_ids = {lid: rid for rid, x in res.items() if x.get("Type") == "AWS::Lambda::Alias"
                     for lid in refs((x.get("Properties") or {}).get("FunctionName"))}
        uris = [json.dumps(x.get("Properties", {}).get("Body", {})) for x in res.values()
                if x.get("Type") == "AWS::ApiGatewayV2::Api"]
        for lid, why in sorted(traffic.items()):
            who = t.binary(t.resources[lid])
            if why != "HTTP API routes":
                continue
            aid = alias_ids.get(lid)
            r.check(aid is not None and any(f"${{{aid}}}" in u for u in uris)
                    and not any(f"${{{lid}.Arn}}" in u for u in uris),
                    f"{who}: the HTTP API integrations call its alias (after the SAM transform)",
                    f"alias {aid}: integrations name the function itself")
            perms = [x.get("Properties") or {} for x in res.values() if x.get("Type") == "AWS::Lambda::Permission"
                     and str((x.get("Properties") or {}).get("Principal", "")).startswith("apigateway")]
            mine = [p for p in perms if refs(p.get("FunctionName")) & ({lid} | ({aid} if aid else set()))]
            r.check(bool(mine) and all(refs(p.get("FunctionName")) == {aid} for p in mine),
                    f"{who}: API Gateway may invoke its alias (after the SAM transform)",
                    f"permissions on {[p.get('FunctionName') for p in mine]}")
    # The hook: deployed in place, invokes exactly the new versions, reports to this stack's
    # deployment groups, reads no database or admin secret.
    admin_and_db = database_secret_ids(t) | {x for fns in migrations_resources(t).values() for f in fns
                                             for x in refs(t.env(t.resources[f]).get("DB_SECRET_ARN"))}
    admin_and_db |= {x for fn in t.functions().values() for x in refs(t.env(fn).get("ADMIN_TOKEN_SECRET_ARN"))}
    for hid, guarded in sorted(hooks.items()):
        fn = t.resources[hid]
        hp = fn.get("Properties") or {}
        who = t.binary(fn) or hid
        r.check("AutoPublishAlias" not in hp and "DeploymentPreference" not in hp,
                f"{who}: updated in place (a hook has no gradual deployment of its own)")
        r.check(text_of(hp.get("FunctionName", "")).startswith("CodeDeployHook_")
                or all(((t.resources[g].get("Properties") or {}).get("DeploymentPreference") or {}).get("Role")
                       for g in guarded),
                f"{who}: named CodeDeployHook_* (SAM's CodeDeploy role may invoke only those)",
                f"FunctionName {hp.get('FunctionName')!r} and no DeploymentPreference.Role")
        env = t.env(fn)
        probed = {str(v["Ref"]).rsplit(".", 1)[0] for v in env.values()
                  if isinstance(v, dict) and set(v) == {"Ref"} and str(v["Ref"]).endswith(".Version")}
        for lid in sorted(guarded):
            r.check(lid in probed, f"{who}: its environment names {lid}'s new version (!Ref {lid}.Version)",
                    f"version variables name {sorted(probed)}")
        stmts = t.statements(hid)
        actions = {a for s_ in stmts for a in as_list(s_.get("Action"))}
        r.check(actions <= HOOK_ACTIONS, f"{who}: granted nothing but {', '.join(sorted(HOOK_ACTIONS))}",
                f"also {sorted(actions - HOOK_ACTIONS)}")
        invoke = [res_ for s_ in t.grants(hid, "lambda:InvokeFunction") for res_ in as_list(s_.get("Resource"))]
        targets = {str(x["Ref"]).rsplit(".", 1)[0] for x in invoke if isinstance(x, dict) and set(x) == {"Ref"}
                   and str(x["Ref"]).endswith(".Version")}
        r.check(bool(invoke) and len(targets) == len(invoke) and targets == guarded,
                f"{who}: lambda:InvokeFunction only on the new versions it probes (!Ref <Function>.Version), "
                "never a function, an alias or *", f"Resource {invoke!r}")
        report = [res_ for s_ in t.grants(hid, "codedeploy:PutLifecycleEventHookExecutionStatus")
                  for res_ in as_list(s_.get("Resource"))]
        r.check(bool(report) and all(re.search(r":deploymentgroup:\$\{ServerlessDeploymentApplication\}/\*$",
                                               text_of(x)) for x in report),
                f"{who}: codedeploy:PutLifecycleEventHookExecutionStatus on this stack's deployment groups only",
                f"Resource {report!r}")
        reads = secret_reads(t, hid)
        r.check(not reads & admin_and_db, f"{who}: reads no database or admin secret", f"reads {sorted(reads & admin_and_db)}")
        r.check(hid not in database_functions(t), f"{who}: gets no database credentials")
    # docs/deploy.md's "Safe updates" section: how it works, how to watch and force a rollback, and
    # why every other function deploys at once.
    m = re.search(r"^## [^\n]*Safe updates.*?(?=^## )", deploy_md, flags=re.M | re.S)
    section = m.group(0) if m else ""
    r.check(bool(section), "docs/deploy.md has a \"Safe updates\" section")
    for phrase in ("AllAtOnce", "canary", "roll back", "ExecutedVersion", "pre-traffic hook", "expand/contract",
                   "donut-ops --stack", "stop-deployment", *sorted(params_seen)):
        r.check(phrase.lower() in section.lower(), f"docs/deploy.md, Safe updates: {phrase}")
    gradual = set(traffic) | set(hooks)
    for lid, fn in sorted(t.functions().items()):
        binary = t.binary(fn) or lid
        if lid not in gradual:
            r.check(f"`{binary}`" in section, f"docs/deploy.md, Safe updates: why {binary} deploys at once")


def run_checks(template_path: Path, use_code: bool, verbose: bool) -> int:
    t = Template(load_template(template_path))
    r = Results(verbose)
    print(f"template: {template_path}")
    documented, shared, doc_routes = docs_contract(ROOT / "docs" / "configuration.md")
    check_binaries(t, r)
    check_env(t, r, documented, "docs/configuration.md", shared, documented)
    check_permissions(t, r, documented, "docs/configuration.md")
    if use_code:
        bins = workspace_binaries()
        code = {b: code_facts(main_rs_of(b, bins[b])) if b in bins else Facts("missing")
                for b in t.function_by_binary()}
        for f in code.values():
            if f.source == "missing":
                f.empty = True
        check_env(t, r, code, "lambdas/*/src/main.rs", None, None)
        check_permissions(t, r, code, "lambdas/*/src/main.rs")
    readers = {b for b, f in documented.items() if "MAX_RECEIVE_COUNT" in f.required | f.optional}
    if use_code:
        readers |= {b for b, f in code.items() if "MAX_RECEIVE_COUNT" in f.required | f.optional}
    check_queues(t, r, readers)
    check_routes(t, r, doc_routes, code_routes(ROOT) if use_code else None)
    check_wiring(t, r)
    check_deploy_safety(t, r, use_code)
    check_least_privilege(t, r)
    check_day_two(t, r)
    check_guided_questions(t, r, template_path)
    check_tool_pins(r)
    check_alarm_runbooks(t, r)
    check_gradual_deployments(t, r)
    for note in sorted(set(t.notes)):
        r.note(note)
    print(f"{r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


# ---------------------------------------------------------------------------------------------
# Self-test: removing a permission / a variable / a DLQ alarm must make the check fail
# ---------------------------------------------------------------------------------------------


def _without_policy(data: dict, binary: str, action: str) -> dict:
    t = Template(data)
    lid = t.function_by_binary()[binary]
    props = data["Resources"][lid]["Properties"]
    kept = []
    removed = False
    for entry in as_list(props.get("Policies")):
        probe = Template({"Resources": {"F": {"Type": "AWS::Serverless::Function",
                                              "Properties": {"Policies": [entry]}}}})
        if not removed and probe.grants("F", action):
            removed = True
            continue
        kept.append(entry)
    assert removed, f"{lid} grants no {action} to remove"
    props["Policies"] = kept
    return data


def _without_policy_on(data: dict, binary: str, var: str) -> dict:
    """Removes the function's GetSecretValue grant on the secret its variable `var` names."""
    t = Template(data)
    lid = t.function_by_binary()[binary]
    target = refs(t.env(t.resources[lid]).get(var))
    props = data["Resources"][lid]["Properties"]
    kept = [p for p in as_list(props.get("Policies"))
            if not (isinstance(p, dict) and refs(p.get("AWSSecretsManagerGetSecretValuePolicy")) == target)]
    assert len(kept) < len(as_list(props.get("Policies"))), f"{lid} has no grant on {var}"
    props["Policies"] = kept
    return data


def _without_variable(data: dict, binary: str, var: str) -> dict:
    lid = Template(data).function_by_binary()[binary]
    variables = data["Resources"][lid]["Properties"]["Environment"]["Variables"]
    assert var in variables, f"{lid} sets no {var}"
    del variables[var]
    return data


def _with_variable(data: dict, binary: str, var: str, value) -> dict:
    lid = Template(data).function_by_binary()[binary]
    data["Resources"][lid]["Properties"].setdefault("Environment", {}).setdefault("Variables", {})[var] = value
    return data


def _with_route_moved(data: dict, path: str, binary: str) -> dict:
    t = Template(data)
    target = data["Resources"][t.function_by_binary()[binary]]["Properties"].setdefault("Events", {})
    for fn in t.functions().values():
        events = (fn.get("Properties") or {}).get("Events") or {}
        for name, ev in list(events.items()):
            if ev.get("Type") == "HttpApi" and (ev.get("Properties") or {}).get("Path") == path:
                target[name] = events.pop(name)
                return data
    raise AssertionError(f"no HttpApi event for {path}")


def _without_dlq_alarm(data: dict) -> dict:
    t = Template(data)
    victims = [aid for aid, a in t.of_type("AWS::CloudWatch::Alarm").items()
               if (a.get("Properties") or {}).get("MetricName") == "ApproximateNumberOfMessagesVisible"]
    assert victims, "no DLQ alarm to remove"
    del data["Resources"][victims[0]]
    return data


def _with_bare_alarm_description(data: dict) -> dict:
    t = Template(data)
    first = sorted(t.of_type("AWS::CloudWatch::Alarm"))[0]
    data["Resources"][first]["Properties"]["AlarmDescription"] = "Something is wrong."
    return data


def _without_depends_on(data: dict, binary: str) -> dict:
    lid = Template(data).function_by_binary()[binary]
    assert data["Resources"][lid].pop("DependsOn", None), f"{lid} has no DependsOn"
    return data


def _without_property(data: dict, binary: str, prop: str) -> dict:
    lid = Template(data).function_by_binary()[binary]
    assert data["Resources"][lid]["Properties"].pop(prop, None) is not None, f"{lid} has no {prop}"
    return data


def _with_admin_secret(data: dict, binary: str) -> dict:
    """The function logs in as the admin: migrate's DB_SECRET_ARN, and a grant on it."""
    t = Template(data)
    lid = t.function_by_binary()[binary]
    admin = t.env(t.resources[t.function_by_binary()["migrate"]])["DB_SECRET_ARN"]
    props = data["Resources"][lid]["Properties"]
    props.setdefault("Environment", {}).setdefault("Variables", {})["DB_SECRET_ARN"] = copy.deepcopy(admin)
    props["Policies"] = as_list(props.get("Policies")) + [
        {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": copy.deepcopy(admin)}}]
    return data


def _with_admin_grant(data: dict, binary: str) -> dict:
    """The function may also read the admin secret (its DB_SECRET_ARN unchanged)."""
    t = Template(data)
    lid = t.function_by_binary()[binary]
    admin = t.env(t.resources[t.function_by_binary()["migrate"]])["DB_SECRET_ARN"]
    props = data["Resources"][lid]["Properties"]
    props["Policies"] = as_list(props.get("Policies")) + [
        {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": copy.deepcopy(admin)}}]
    return data


def _app_secret(data: dict) -> dict:
    t = Template(data)
    ids = refs(t.env(t.resources[t.function_by_binary()["migrate"]]).get("DB_APP_SECRET_ARN"))
    assert len(ids) == 1, f"migrate's DB_APP_SECRET_ARN names {ids}"
    return data["Resources"][ids.pop()]


def _with_punctuation(data: dict) -> dict:
    assert _app_secret(data)["Properties"]["GenerateSecretString"].pop("ExcludePunctuation", None) is not None
    return data


def _rotation(data: dict) -> dict:
    found = [r for r in data["Resources"].values() if r.get("Type") == "AWS::SecretsManager::RotationSchedule"]
    assert found, "no RotationSchedule"
    return found[0]


def _rotation_with(data: dict, key: str, value) -> dict:
    hosted = _rotation(data)["Properties"]["HostedRotationLambda"]
    if value is None:
        assert hosted.pop(key, None) is not None, f"no {key}"
    else:
        hosted[key] = value
    return data


def _rotation_before_migrations(data: dict) -> dict:
    assert _rotation(data).pop("DependsOn", None), "the rotation has no DependsOn"
    return data


def _proxy_without_app_user(data: dict) -> dict:
    proxies = [r for r in data["Resources"].values() if r.get("Type") == "AWS::RDS::DBProxy"]
    assert proxies, "no DBProxy"
    auth = proxies[0]["Properties"]["Auth"]
    kept = [a for a in auth if "MasterUserSecret" in json.dumps(a)]
    assert len(kept) < len(auth), "the proxy's Auth has only the master secret"
    proxies[0]["Properties"]["Auth"] = kept
    return data


def _with_default(data: dict, parameter: str, value) -> dict:
    data["Parameters"][parameter]["Default"] = value
    data["Parameters"][parameter].pop("MaxValue", None)
    return data


def _with_new_parameter(data: dict) -> dict:
    data["Parameters"]["UndocumentedKnob"] = {"Type": "String", "Default": "x"}
    return data


def _with_metadata(data: dict, binary: str, key: str, value) -> dict:
    lid = Template(data).function_by_binary()[binary]
    data["Resources"][lid]["Metadata"][key] = value
    return data


def _with_function_copy(data: dict, binary: str, new_lid: str) -> dict:
    """A new function (same code as BINARY's) that the Makefile has no target for."""
    lid = Template(data).function_by_binary()[binary]
    data["Resources"][new_lid] = copy.deepcopy(data["Resources"][lid])
    return data


def _with_wait_timeout(data: dict, value: str) -> dict:
    groups = [g for g in data["Resources"].values() if g.get("Type") == "AWS::RDS::DBParameterGroup"]
    assert groups, "no DB parameter group"
    groups[0]["Properties"]["Parameters"]["wait_timeout"] = value
    return data


def _with_forced_reservation(data: dict, binary: str) -> dict:
    lid = Template(data).function_by_binary()[binary]
    props = data["Resources"][lid]["Properties"]
    props["ReservedConcurrentExecutions"] = props["ReservedConcurrentExecutions"]["Fn::If"][1]
    return data


def _without_resource(data: dict, rid: str) -> dict:
    assert data["Resources"].pop(rid, None) is not None, f"no {rid}"
    return data


def _proxy_auth_without(data: dict, key: str) -> dict:
    for res in Template(data).of_type("AWS::RDS::DBProxy").values():
        for auth in res["Properties"]["Auth"]:
            auth.pop(key, None)
    return data


def _db_parameter(data: dict, name: str, value) -> dict:
    for res in Template(data).of_type("AWS::RDS::DBParameterGroup").values():
        params = res["Properties"].setdefault("Parameters", {})
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return data


def _database_name_64(data: dict) -> dict:
    p = data["Parameters"]["DatabaseName"]
    p["MaxLength"] = 64
    p["AllowedPattern"] = "^[A-Za-z][A-Za-z0-9_]{0,63}$"
    return data


def _capture_kept_forever(data: dict, prefix: str) -> dict:
    for res in Template(data).of_type("AWS::S3::Bucket").values():
        for rule in res["Properties"]["LifecycleConfiguration"]["Rules"]:
            if rule.get("Prefix") == prefix:
                rule.pop("ExpirationInDays", None)
    return data


def _canary_dimension(data: dict, alarm: str, name: str, value) -> dict:
    dims = data["Resources"][alarm]["Properties"]["Dimensions"]
    kept = [d for d in dims if d["Name"] != name]
    assert len(kept) < len(dims), f"{alarm} has no {name} dimension"
    if value is not None:
        kept.append({"Name": name, "Value": value})
    data["Resources"][alarm]["Properties"]["Dimensions"] = kept
    return data


def _preference_alarms(data: dict, binary: str, change) -> dict:
    lid = Template(data).function_by_binary()[binary]
    pref = data["Resources"][lid]["Properties"]["DeploymentPreference"]
    pref["Alarms"] = change(pref["Alarms"])
    return data


def _mapping_on_function(data: dict) -> dict:
    esm = data["Resources"]["FactoryOrdersEventSourceMapping"]["Properties"]
    assert esm["FunctionName"] == {"Ref": "FactoryOrdererFunction.Alias"}, esm["FunctionName"]
    esm["FunctionName"] = {"Ref": "FactoryOrdererFunction"}
    return data


def _without_all_at_once(data: dict) -> dict:
    p = data["Parameters"]["DeploymentPreferenceType"]
    p["AllowedValues"] = [v for v in p["AllowedValues"] if v != "AllAtOnce"]
    return data


def _hook_statement(data: dict, sid: str, key: str | None, value) -> dict:
    """Changes (or with key None removes) the hook's inline policy statement `sid`."""
    lid = Template(data).function_by_binary()["deploy-hook"]
    for policy in data["Resources"][lid]["Properties"]["Policies"]:
        stmts = policy.get("Statement") if isinstance(policy, dict) else None
        for st in stmts or []:
            if st.get("Sid") == sid:
                if key is None:
                    stmts.remove(st)
                else:
                    st[key] = value
                return data
    raise AssertionError(f"the hook has no statement {sid}")


def _hook_reads_database_secret(data: dict) -> dict:
    lid = Template(data).function_by_binary()["deploy-hook"]
    data["Resources"][lid]["Properties"]["Policies"].append(
        {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "AppDatabaseSecret"}}})
    return data


def _hook_may_publish(data: dict) -> dict:
    lid = Template(data).function_by_binary()["deploy-hook"]
    data["Resources"][lid]["Properties"]["Policies"].append(
        {"SNSPublishMessagePolicy": {"TopicName": {"Fn::GetAtt": ["StockOutTopic", "TopicName"]}}})
    return data


def _with_property(data: dict, binary: str, prop: str, value) -> dict:
    lid = Template(data).function_by_binary()[binary]
    data["Resources"][lid]["Properties"][prop] = value
    return data


def _subnets_on_getazs(data: dict) -> dict:
    for i, res in enumerate(Template(data).of_type("AWS::EC2::Subnet").values()):
        res["Properties"]["AvailabilityZone"] = {"Fn::Select": [i % 2, {"Fn::GetAZs": ""}]}
    return data


SCANNER_SAMPLE = r'''
use inventory::config::{admin_token_from_env, database_from_env, Env};
use inventory::messaging::SnsPublisher;

// env.required("COMMENTED_OUT") must not count
/* neither must env.required("BLOCK_COMMENT") */
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let env = Env::from_process();
    let topic = env.required("STOCKOUT_TOPIC_ARN")?;
    let factory = env.required("FACTORY_URL")?;
    let timeout: u64 = env.parse_or("FACTORY_TIMEOUT_MS", 5000)?;
    let requester = env.optional("REQUESTER").unwrap_or_else(|| "donut-shop".into());
    let down = std::env::var("SIM_DOWN").is_ok();
    let db = database_from_env(&env).await?;
    let admin = admin_token_from_env(&env).await?;
    let signer = CallbackSigner::new(&callback_secret_from_env(&env, Some(&sdk)).await?);
    let publisher = SnsPublisher::new(&aws, topic);
    Ok(())
}

#[cfg(test)]
mod tests {
    fn t() { let _ = env.required("ONLY_IN_TESTS"); }
}
'''


def synthetic_workspace(dest: Path) -> Path:
    """A copy of the workspace manifests and docs whose main.rs files do exactly what the docs say."""
    import shutil  # noqa: PLC0415

    for rel in ("Cargo.toml", "docs/configuration.md", "docs/api.md", "docs/deploy.md", "docs/capture.md",
                "requirements-tools.txt",
                "scripts/setup-venv.sh", "lambdas/inventory/src/config.rs", str(ROUTE_TABLE), "Makefile",
                "scripts/sam-build.sh",
                *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "scripts" / "sam").glob("*/Makefile")))):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, dest / rel)
    documented, _, _ = docs_contract(ROOT / "docs" / "configuration.md")
    idents = {call: ident for ident, call in ADAPTERS.items()}
    for binary, crate in workspace_binaries().items():
        target = dest / crate.relative_to(ROOT)
        (target / "src").mkdir(parents=True, exist_ok=True)
        shutil.copy(crate / "Cargo.toml", target / "Cargo.toml")
        f = documented.get(binary)
        lines = ["fn main() {", "    let env = Env::from_process();"]
        if f is not None:
            helper_vars = set()
            for call in sorted(f.calls, key=str):
                ident = idents.get(call)
                if ident in HELPER_VARS:
                    lines.append(f"    let _ = {ident}(&env);")
                    helper_vars |= set(HELPER_VARS[ident])
                elif ident:
                    lines.append(f"    let _ = {ident}::new(&aws);")
            for var in sorted(f.required - helper_vars):
                lines.append(f'    let _ = env.required("{var}");')
            for var in sorted(f.optional):
                lines.append(f'    let _ = env.parse_or("{var}", Default::default());')
        lines.append("}")
        (target / "src" / "main.rs").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest


def self_test(template_path: Path) -> int:
    original = load_template(template_path)
    results = Results(verbose=True)
    results.begin(f"self-test on copies of {template_path}")
    bins = workspace_binaries()
    sales_code = code_facts(main_rs_of("sales-api", bins["sales-api"])) if "sales-api" in bins else None
    code_ready = bool(sales_code and not sales_code.empty
                      and ("sns:Publish", "STOCKOUT_TOPIC_ARN") in sales_code.calls
                      and "STOCKOUT_TOPIC_ARN" in sales_code.required)
    # Code mode runs against the real lambdas/*/src/main.rs once sales-api's is written, and always
    # against a synthetic workspace whose main.rs files honour docs/configuration.md.
    modes: list[tuple[str, list[str], dict]] = [("contract", ["--contract"], {})]
    if code_ready:
        modes.append(("code", [], {}))
    else:
        results.note("real-code cases skipped: lambdas/sales-api/src/main.rs does not construct SnsPublisher "
                     "and read STOCKOUT_TOPIC_ARN yet")
    cases = [
        ("sales-api without sns:Publish", lambda d: _without_policy(d, "sales-api", "sns:Publish"),
         ["@sales-api: sns:Publish on STOCKOUT_TOPIC_ARN is allowed"]),
        ("sales-api without STOCKOUT_TOPIC_ARN", lambda d: _without_variable(d, "sales-api", "STOCKOUT_TOPIC_ARN"),
         ["@sales-api: STOCKOUT_TOPIC_ARN is set"]),
        ("sales-api without sns:Publish and STOCKOUT_TOPIC_ARN",
         lambda d: _without_variable(_without_policy(d, "sales-api", "sns:Publish"), "sales-api", "STOCKOUT_TOPIC_ARN"),
         ["@sales-api: sns:Publish on STOCKOUT_TOPIC_ARN is allowed", "@sales-api: STOCKOUT_TOPIC_ARN is set"]),
        ("exporter without s3:PutObject", lambda d: _without_policy(d, "exporter", "s3:PutObject"),
         ["@exporter: s3:PutObject on EXPORT_BUCKET is allowed"]),
        ("first DLQ alarm removed", _without_dlq_alarm, ["alarm on DLQ"]),
        ("factory-orderer without CALLBACK_SECRET_ARN",
         lambda d: _without_variable(d, "factory-orderer", "CALLBACK_SECRET_ARN"),
         ["@factory-orderer: CALLBACK_SECRET_ARN is set"]),
        ("factory-orderer MAX_RECEIVE_COUNT differs from the queue's maxReceiveCount",
         lambda d: _with_variable(d, "factory-orderer", "MAX_RECEIVE_COUNT", "3"),
         ["MAX_RECEIVE_COUNT is the queue's maxReceiveCount"]),
        ("factory-orderer FACTORY_TIMEOUT_MS longer than its function timeout",
         lambda d: _with_variable(d, "factory-orderer", "FACTORY_TIMEOUT_MS", "29000"),
         ["Timeout >= FACTORY_TIMEOUT_MS"]),
        ("factory-sim without sqs:SendMessage", lambda d: _without_policy(d, "factory-sim", "sqs:SendMessage"),
         ["@factory-sim: sqs:SendMessage on SIM_QUEUE_URL is allowed"]),
        ("sales-api without DependsOn Migrations", lambda d: _without_depends_on(d, "sales-api"),
         ["sales-api: DependsOn the migrations"]),
        ("DeletionProtection on by default (a failed create cannot roll back)",
         lambda d: _with_default(d, "DeletionProtection", "true"), ["DeletionProtection is false by default"]),
        ("sales-api cap raised to 100 (over the connection budget)",
         lambda d: _with_default(d, "SalesApiMaxConcurrency", 100), ["connection budget"]),
        ("restock without a concurrency cap", lambda d: _without_property(d, "restock", "ReservedConcurrentExecutions"),
         ["restock: has a concurrency cap"]),
        ("wait_timeout back to MySQL's 8 h", lambda d: _with_wait_timeout(d, "28800"),
         ["wait_timeout between 60 and 900 s"]),
        ("exporter without an on-failure destination", lambda d: _without_property(d, "exporter", "EventInvokeConfig"),
         ["exporter (Schedule event): EventInvokeConfig OnFailure"]),
        ("a parameter docs/deploy.md does not list", _with_new_parameter,
         ["lists the guided questions in the order SAM asks them"]),
        ("sales-api logs in as the admin (master secret)", lambda d: _with_admin_secret(d, "sales-api"),
         ["sales-api: cannot read the admin secret", "sales-api: DB_SECRET_ARN is the application user's secret"]),
        ("restock may also read the admin secret", lambda d: _with_admin_grant(d, "restock"),
         ["restock: cannot read the admin secret"]),
        ("migrate without DB_APP_SECRET_ARN", lambda d: _without_variable(d, "migrate", "DB_APP_SECRET_ARN"),
         ["@migrate: DB_APP_SECRET_ARN is set"]),
        ("migrate cannot read the application secret",
         lambda d: _without_policy_on(d, "migrate", "DB_APP_SECRET_ARN"),
         ["migrate: reads the admin and the application secret"]),
        ("application secret with punctuation", _with_punctuation, ["ExcludePunctuation"]),
        ("rotation may generate punctuation", lambda d: _rotation_with(d, "ExcludeCharacters", None),
         ["ExcludeCharacters has every punctuation character"]),
        ("multi-user rotation type", lambda d: _rotation_with(d, "RotationType", "MySQLMultiUser"),
         ["HostedRotationLambda MySQLSingleUser"]),
        ("rotation outside the VPC", lambda d: _rotation_with(d, "VpcSubnetIds", None),
         ["runs in migrate's subnets and security group"]),
        ("rotation before the user exists", _rotation_before_migrations, ["DependsOn the migrations"]),
        ("RDS Proxy without the application user", _proxy_without_app_user,
         ["Auth has the admin and the application secret"]),
        ("an alarm that does not say what to run", _with_bare_alarm_description,
         ["names a donut-ops command", "links a runbook section"]),
        ("POST /events routed to restock", lambda d: _with_route_moved(d, "/events", "restock"),
         ["@route POST /events is served by sales-api"]),
        ("sales-api built by rust-cargolambda again (one cargo build per function)",
         lambda d: _with_metadata(d, "sales-api", "BuildMethod", "rust-cargolambda"),
         ["SalesApiFunction: BuildMethod makefile"]),
        ("restock's Makefile fixed to arm64 (ignores Architecture)",
         lambda d: _with_metadata(d, "restock", "ProjectRootDirectory", "scripts/sam/arm64"),
         ["RestockFunction: ProjectRootDirectory follows the Architecture parameter",
          "RestockFunction: make target build-RestockFunction builds restock for x86_64"]),
        ("a function without a make target", lambda d: _with_function_copy(d, "exporter", "ExporterCopyFunction"),
         ["ExporterCopyFunction: make target build-ExporterCopyFunction builds exporter for arm64"]),
        ("sales-api reserves concurrency whatever its parameter says",
         lambda d: _with_forced_reservation(d, "sales-api"),
         ["sales-api: ReservedConcurrentExecutions is !If [cond, !Ref <parameter>, !Ref AWS::NoValue]"]),
        ("subnets back on !GetAZs", _subnets_on_getazs,
         ["PrivateSubnet1: its zone comes from the AvailabilityZones parameter"]),
        ("the proxy cannot leave on 443", lambda d: _without_resource(d, "DatabaseProxyToEndpointsEgress"),
         ["with interface endpoints: its security group allows 443 out to the Secrets Manager endpoint"]),
        ("the endpoint does not admit the proxy", lambda d: _without_resource(d, "EndpointsFromProxyIngress"),
         ["the endpoint's security group admits 443 from the proxy's group"]),
        ("the proxy without a NAT path", lambda d: _without_resource(d, "DatabaseProxyToNatEgress"),
         ["without interface endpoints: its security group allows 443 out"]),
        ("the proxy without ClientPasswordAuthType", lambda d: _proxy_auth_without(d, "ClientPasswordAuthType"),
         ["ClientPasswordAuthType for MySQL 8.4"]),
        ("the server accepts plain text", lambda d: _db_parameter(d, "require_secure_transport", None),
         ["require_secure_transport on"]),
        ("DatabaseName up to 64 characters", _database_name_64,
         ["DatabaseName: MaxLength <= 28", "DatabaseName: AllowedPattern accepts 28 characters and refuses 29"]),
        ("captured requests kept forever", lambda d: _capture_kept_forever(d, "rawdata/"),
         ["objects under rawdata/ expire"]),
        ("exports kept forever", lambda d: _capture_kept_forever(d, "exports/"),
         ["objects under exports/ expire"]),
        ("factory-sim without CALLBACK_BASE_URL (an open relay)",
         lambda d: _without_variable(d, "factory-sim", "CALLBACK_BASE_URL"),
         ["factory-sim: CALLBACK_BASE_URL (allowed callbacks)"]),
        # Gradual deployments (issue 24).
        ("sales-api deployed at once again (no alias, no preference)",
         lambda d: _without_property(_without_property(d, "sales-api", "DeploymentPreference"),
                                     "sales-api", "AutoPublishAlias"),
         ["sales-api (HTTP API routes): AutoPublishAlias", "sales-api: DeploymentPreference.Type is a template parameter",
          "sales-api: the HTTP API integrations call its alias", "sales-api: API Gateway may invoke its alias"]),
        ("restock without a DeploymentPreference", lambda d: _without_property(d, "restock", "DeploymentPreference"),
         ["restock: DeploymentPreference.Type is a template parameter", "restock: a pre-traffic hook function",
          "restock: a rollback alarm on the new version's Errors"]),
        ("factory-orderer's canary errors alarm watches the whole function",
         lambda d: _canary_dimension(d, "FactoryOrdererCanaryErrorsAlarm", "ExecutedVersion", None),
         ["factory-orderer: a rollback alarm on the new version's Errors"]),
        ("sales-api's canary throttles alarm watches the version at create",
         lambda d: _canary_dimension(d, "SalesApiCanaryThrottlesAlarm", "ExecutedVersion", "1"),
         ["sales-api: a rollback alarm on the new version's Throttles"]),
        ("restock's canary errors alarm watches another alias",
         lambda d: _canary_dimension(d, "RestockCanaryErrorsAlarm", "Resource", {"Fn::Sub": "${RestockFunction}:prod"}),
         ["restock: a rollback alarm on the new version's Errors"]),
        ("the HTTP API's 5xx alarm left out of sales-api's preference",
         lambda d: _preference_alarms(d, "sales-api", lambda alarms: [a for a in alarms if "5xx" not in json.dumps(a)]),
         ["sales-api: a rollback alarm on the HTTP API's 5xx"]),
        ("the factory-orders mapping calls the function, not its alias", _mapping_on_function,
         ["FactoryOrdersEventSourceMapping: calls factory-orderer's alias"]),
        ("updates shift all at once by default", lambda d: _with_default(d, "DeploymentPreferenceType", "AllAtOnce"),
         ["sales-api: DeploymentPreferenceType defaults to a gradual shift (a canary)"]),
        ("no AllAtOnce for development stacks", _without_all_at_once,
         ["factory-orderer: DeploymentPreferenceType allows AllAtOnce"]),
        ("the hook may invoke any function", lambda d: _hook_statement(d, "InvokeTheNewVersions", "Resource", "*"),
         ["deploy-hook: lambda:InvokeFunction only on the new versions it probes"]),
        ("the hook may invoke sales-api's alias (the old version too)",
         lambda d: _hook_statement(d, "InvokeTheNewVersions", "Resource",
                                   [{"Ref": "SalesApiFunction.Alias"}, {"Ref": "RestockFunction.Version"},
                                    {"Ref": "FactoryOrdererFunction.Version"}]),
         ["deploy-hook: lambda:InvokeFunction only on the new versions it probes"]),
        ("the hook cannot report to CodeDeploy", lambda d: _hook_statement(d, "ReportToCodeDeploy", None, None),
         ["deploy-hook: codedeploy:PutLifecycleEventHookExecutionStatus on this stack's deployment groups only"]),
        ("the hook may report to any deployment group",
         lambda d: _hook_statement(d, "ReportToCodeDeploy", "Resource", "*"),
         ["deploy-hook: codedeploy:PutLifecycleEventHookExecutionStatus on this stack's deployment groups only"]),
        ("the hook may read the database secret", _hook_reads_database_secret,
         ["deploy-hook: reads no database or admin secret", "deploy-hook: gets no database credentials"]),
        ("the hook may also publish stock-outs", _hook_may_publish,
         ["deploy-hook: granted nothing but"]),
        ("the hook probes sales-api's function instead of its new version",
         lambda d: _with_variable(d, "deploy-hook", "SALES_API_VERSION_ARN", {"Fn::GetAtt": ["SalesApiFunction", "Arn"]}),
         ["deploy-hook: its environment names SalesApiFunction's new version"]),
        ("the hook named so that CodeDeploy's role may not invoke it",
         lambda d: _with_property(d, "deploy-hook", "FunctionName", {"Fn::Sub": "${AWS::StackName}-deploy-hook"}),
         ["deploy-hook: named CodeDeployHook_*"]),
    ]

    def run(path: Path, mode: list[str], extra_env: dict) -> tuple[int, list[str]]:
        proc = subprocess.run([sys.executable, __file__, *mode, str(path)], capture_output=True, text=True,
                              cwd=ROOT, env={**os.environ, **extra_env}, timeout=300)
        return proc.returncode, [ln.strip() for ln in proc.stdout.splitlines() if ln.lstrip().startswith("FAIL")]

    with tempfile.TemporaryDirectory() as tmp:
        # The main.rs scanner itself, on a synthetic file.
        sample = Path(tmp) / "main.rs"
        sample.write_text(SCANNER_SAMPLE, encoding="utf-8")
        got = code_facts(sample)
        results.check(got.required == {"STOCKOUT_TOPIC_ARN", "FACTORY_URL", "DB_SECRET_ARN", "DB_HOST", "DB_NAME",
                                       "ADMIN_TOKEN_SECRET_ARN", "CALLBACK_SECRET_ARN"},
                      "scanner: required variables", f"got {sorted(got.required)}")
        results.check(got.optional == {"FACTORY_TIMEOUT_MS", "REQUESTER", "SIM_DOWN"}, "scanner: optional variables",
                      f"got {sorted(got.optional)}")
        results.check(got.calls == {("sns:Publish", "STOCKOUT_TOPIC_ARN"),
                                    ("secretsmanager:GetSecretValue", "DB_SECRET_ARN"),
                                    ("secretsmanager:GetSecretValue", "ADMIN_TOKEN_SECRET_ARN"),
                                    ("secretsmanager:GetSecretValue", "CALLBACK_SECRET_ARN")},
                      "scanner: AWS calls from adapters", f"got {sorted(got.calls, key=str)}")
        fake = synthetic_workspace(Path(tmp) / "workspace")
        modes.append(("synthetic code", [], {"TEMPLATE_CHECK_ROOT": str(fake)}))
        base_path = Path(tmp) / "unmodified.yaml"
        base_path.write_text(yaml.safe_dump(copy.deepcopy(original), sort_keys=False), encoding="utf-8")
        for mode_name, mode, extra_env in modes:
            # Mutations are judged by the failures they add to the unmodified template's.
            base_rc, base_fails = run(base_path, mode, extra_env)
            if base_rc == 0:
                results.check(True, f"[{mode_name}] unmodified template: exit 0")
            elif not base_fails:
                # A crash (e.g. a file the synthetic workspace lacks) hides every later check.
                results.check(False, f"[{mode_name}] unmodified template: the check ran to its end",
                              f"exit {base_rc} without a FAIL line")
            else:
                results.note(f"[{mode_name}] the unmodified template already fails {len(base_fails)} check(s); "
                             "mutations are judged by the failures they add:")
                for line in base_fails:
                    results.note(f"    {line}")
            for i, (name, mutate, must_mention) in enumerate(cases):
                path = Path(tmp) / f"case{i}.yaml"
                path.write_text(yaml.safe_dump(mutate(copy.deepcopy(original)), sort_keys=False), encoding="utf-8")
                rc, fails = run(path, mode, extra_env)
                new = [ln for ln in fails if ln not in base_fails]
                results.check(rc == 1, f"[{mode_name}] {name}: exit 1", f"exit {rc}")
                for needle in must_mention:
                    # "@..." needles must be reported by the check of this mode's source (docs or code).
                    if needle.startswith("@"):
                        needle = ("[docs] " if mode_name == "contract" else "[code] ") + needle[1:]
                    results.check(any(needle in ln for ln in new), f"  newly reported: {needle}",
                                  "\n" + "\n".join(new[:10]))
    print(f"{results.passed} passed, {results.failed} failed")
    return 1 if results.failed else 0


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("-")]
    flags = {a for a in argv if a.startswith("-")}
    unknown = flags - {"--self-test", "--contract", "-v", "--verbose", "-h", "--help"}
    if unknown or {"-h", "--help"} & flags or len(args) > 1:
        print(__doc__)
        return 0 if not unknown and len(args) <= 1 else 2
    template = Path(args[0]).resolve() if args else DEFAULT_TEMPLATE
    if "--self-test" in flags:
        return self_test(template)
    return run_checks(template, use_code="--contract" not in flags, verbose=bool({"-v", "--verbose"} & flags))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
