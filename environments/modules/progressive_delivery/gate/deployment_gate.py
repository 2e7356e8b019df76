"""Ferry's deployment gate: an ECS deployment lifecycle hook (AWS Lambda) that
holds a blue/green deployment until Ferry promotes or aborts it.

ECS invokes the hook at the lifecycle stages the service names for it (for
example POST_TEST_TRAFFIC_SHIFT: the new revision has test traffic, production
traffic is still on the running one), then again every CALLBACK_DELAY_SECONDS
while the hook answers IN_PROGRESS. The answer comes from the service's tags,
which Ferry writes (`ferry promote`, `ferry abort`, POST /promote):

    ferry.dev/abort   = <deployment id>   ->  FAILED: ECS rolls back
    ferry.dev/promote = <deployment id>   ->  SUCCEEDED: the deployment goes on
    neither                               ->  IN_PROGRESS: ask again later

<deployment id> is the last part of the service deployment's ARN
(arn:aws:ecs:<region>:<account>:service-deployment/<cluster>/<service>/<id>);
the whole ARN is accepted too. A tag that names another deployment (an earlier
one) is ignored, so a stale tag never lets a new revision through. The gate
never holds a deployment that is being stopped or rolled back, and lets a
service's first deployment through (no running revision to protect).

It only reads: ecs:ListServiceDeployments and ecs:ListTagsForResource on the
service. It must not change anything; what it decides is in its answer and in
one JSON log line per invocation.
"""

import json

import boto3

PROMOTE_TAG = "ferry.dev/promote"
ABORT_TAG = "ferry.dev/abort"
CALLBACK_DELAY_SECONDS = 15

# Deployments that are ending: answering IN_PROGRESS would hold a rollback.
ENDING_STATUSES = frozenset(
    {
        "STOP_REQUESTED",
        "STOPPED",
        "ROLLBACK_REQUESTED",
        "ROLLBACK_IN_PROGRESS",
        "ROLLBACK_SUCCESSFUL",
        "ROLLBACK_FAILED",
    }
)

_ecs = None


def ecs():
    """The ECS client, created on first use (the module imports without AWS)."""
    global _ecs
    if _ecs is None:
        _ecs = boto3.client("ecs")
    return _ecs


def deployment_id(deployment_arn):
    """The id of a service deployment: the last part of its ARN."""
    return deployment_arn.rsplit("/", 1)[-1]


def decide(deployment_arn, status, first_deployment, tags):
    """The hook's answer for one deployment, from its status and the service's tags."""
    if status in ENDING_STATUSES:
        return "SUCCEEDED", f"deployment is {status}: never held"
    if first_deployment:
        return "SUCCEEDED", "first deployment of the service: nothing to protect"
    names = {deployment_arn, deployment_id(deployment_arn)}
    if tags.get(ABORT_TAG) in names:
        return "FAILED", f"{ABORT_TAG} names this deployment"
    if tags.get(PROMOTE_TAG) in names:
        return "SUCCEEDED", f"{PROMOTE_TAG} names this deployment"
    return "IN_PROGRESS", f"waiting for {PROMOTE_TAG} or {ABORT_TAG} = {deployment_id(deployment_arn)}"


def cluster_and_service(service_arn):
    """Cluster and service names of arn:aws:ecs:<region>:<account>:service/<cluster>/<service>."""
    parts = service_arn.split(":", 5)[-1].split("/")
    if len(parts) != 3 or parts[0] != "service":
        raise ValueError(f"not a service ARN with its cluster: {service_arn}")
    return parts[1], parts[2]


def find_deployment(cluster, service, revision_arn):
    """The service deployment towards revision_arn (ARN, status) and whether it is the service's first."""
    found = None
    pages = ecs().get_paginator("list_service_deployments").paginate(cluster=cluster, service=service)
    count = 0
    for page in pages:
        for brief in page.get("serviceDeployments", []):
            count += 1
            if found is None and brief.get("targetServiceRevisionArn") == revision_arn:
                found = brief
        if found is not None and count > 1:
            break
    if found is None:
        return None, None, False
    return found["serviceDeploymentArn"], found.get("status"), count == 1


def service_tags(service_arn):
    """The service's tags, as a dict."""
    tags = ecs().list_tags_for_resource(resourceArn=service_arn).get("tags", [])
    return {tag["key"]: tag["value"] for tag in tags}


def answer(status, reason, **fields):
    """The hook's answer to ECS, logged as one JSON line."""
    print(json.dumps({"hookStatus": status, "reason": reason, **fields}, sort_keys=True))
    response = {"hookStatus": status}
    if status == "IN_PROGRESS":
        response["callBackDelay"] = CALLBACK_DELAY_SECONDS
    return response


def handler(event, _context):
    """Entry point ECS invokes (lifecycle hook payload: executionDetails.serviceArn, .targetServiceRevisionArn)."""
    details = event.get("executionDetails") or {}
    service_arn = details.get("serviceArn")
    revision_arn = details.get("targetServiceRevisionArn")
    stage = event.get("lifecycleStage")
    if not service_arn or not revision_arn:
        return answer("FAILED", "the event names no serviceArn and targetServiceRevisionArn", stage=stage)
    cluster, service = cluster_and_service(service_arn)
    deployment_arn, status, first = find_deployment(cluster, service, revision_arn)
    if deployment_arn is None:
        # ListServiceDeployments is eventually consistent: ask again.
        return answer("IN_PROGRESS", "no deployment to this revision listed yet", service=service_arn, stage=stage)
    hook_status, reason = decide(deployment_arn, status, first, service_tags(service_arn))
    return answer(hook_status, reason, deployment=deployment_arn, service=service_arn, stage=stage)
