"""Tests of the deployment gate's decision (`python3 -m unittest gate_test` in this folder)."""

import unittest

import deployment_gate as gate

ARN = "arn:aws:ecs:us-east-1:123456789012:service-deployment/numbers-staging/numbers/AbCdEf0123"


class Decide(unittest.TestCase):
    def test_waits_without_tags(self):
        self.assertEqual(gate.decide(ARN, "IN_PROGRESS", False, {})[0], "IN_PROGRESS")

    def test_promote_naming_this_deployment_succeeds(self):
        for value in ("AbCdEf0123", ARN):
            self.assertEqual(gate.decide(ARN, "IN_PROGRESS", False, {"ferry.dev/promote": value})[0], "SUCCEEDED")

    def test_abort_naming_this_deployment_fails_even_if_promoted(self):
        tags = {"ferry.dev/promote": "AbCdEf0123", "ferry.dev/abort": "AbCdEf0123"}
        self.assertEqual(gate.decide(ARN, "IN_PROGRESS", False, tags)[0], "FAILED")

    def test_tags_naming_an_earlier_deployment_are_ignored(self):
        tags = {"ferry.dev/promote": "Earlier", "ferry.dev/abort": "Older"}
        self.assertEqual(gate.decide(ARN, "IN_PROGRESS", False, tags)[0], "IN_PROGRESS")

    def test_never_holds_a_rollback(self):
        self.assertEqual(gate.decide(ARN, "ROLLBACK_IN_PROGRESS", False, {})[0], "SUCCEEDED")

    def test_first_deployment_passes(self):
        self.assertEqual(gate.decide(ARN, "IN_PROGRESS", True, {})[0], "SUCCEEDED")

    def test_service_arn_names_cluster_and_service(self):
        arn = "arn:aws:ecs:us-east-1:123456789012:service/numbers-staging/numbers"
        self.assertEqual(gate.cluster_and_service(arn), ("numbers-staging", "numbers"))
        with self.assertRaises(ValueError):
            gate.cluster_and_service("arn:aws:ecs:us-east-1:123456789012:service/numbers")


class StubEcs:
    """Answers ListServiceDeployments (newest first, in pages) and ListTagsForResource."""

    def __init__(self, pages, tags):
        self.pages = pages
        self.tags = tags
        self.calls = []

    def get_paginator(self, operation):
        assert operation == "list_service_deployments"
        stub = self

        class Paginator:
            def paginate(self, **kwargs):
                stub.calls.append(kwargs)
                return iter([{"serviceDeployments": page} for page in stub.pages])

        return Paginator()

    def list_tags_for_resource(self, resourceArn):
        return {"tags": [{"key": k, "value": v} for k, v in self.tags.items()]}


SERVICE = "arn:aws:ecs:us-east-1:123456789012:service/numbers-staging/numbers"
REVISION = "arn:aws:ecs:us-east-1:123456789012:service-revision/numbers-staging/numbers/222"
EARLIER = "arn:aws:ecs:us-east-1:123456789012:service-deployment/numbers-staging/numbers/Earlier"


def event(stage="POST_TEST_TRAFFIC_SHIFT"):
    return {
        "executionDetails": {"serviceArn": SERVICE, "targetServiceRevisionArn": REVISION},
        "lifecycleStage": stage,
    }


class Handler(unittest.TestCase):
    def run_with(self, pages, tags):
        gate._ecs = StubEcs(pages, tags)
        try:
            return gate.handler(event(), None), gate._ecs.calls
        finally:
            gate._ecs = None

    def test_holds_until_promoted_then_passes(self):
        pages = [[{"serviceDeploymentArn": ARN, "status": "IN_PROGRESS", "targetServiceRevisionArn": REVISION}],
                 [{"serviceDeploymentArn": EARLIER, "status": "SUCCESSFUL", "targetServiceRevisionArn": "r1"}]]
        answer, calls = self.run_with(pages, {})
        self.assertEqual(answer["hookStatus"], "IN_PROGRESS")
        self.assertEqual(calls, [{"cluster": "numbers-staging", "service": "numbers"}])
        answer, _ = self.run_with(pages, {"ferry.dev/promote": "AbCdEf0123"})
        self.assertEqual(answer, {"hookStatus": "SUCCEEDED"})
        answer, _ = self.run_with(pages, {"ferry.dev/abort": "AbCdEf0123"})
        self.assertEqual(answer, {"hookStatus": "FAILED"})

    def test_first_deployment_passes(self):
        pages = [[{"serviceDeploymentArn": ARN, "status": "IN_PROGRESS", "targetServiceRevisionArn": REVISION}]]
        self.assertEqual(self.run_with(pages, {})[0], {"hookStatus": "SUCCEEDED"})

    def test_waits_while_the_deployment_is_not_listed(self):
        pages = [[{"serviceDeploymentArn": EARLIER, "status": "SUCCESSFUL", "targetServiceRevisionArn": "r1"}]]
        self.assertEqual(self.run_with(pages, {"ferry.dev/promote": "AbCdEf0123"})[0]["hookStatus"], "IN_PROGRESS")

    def test_an_event_without_its_service_fails(self):
        self.assertEqual(gate.handler({"executionDetails": {}}, None), {"hookStatus": "FAILED"})


class Answer(unittest.TestCase):
    def test_in_progress_asks_to_be_called_back(self):
        self.assertEqual(gate.answer("IN_PROGRESS", "x"), {"hookStatus": "IN_PROGRESS", "callBackDelay": 15})

    def test_final_answers_carry_only_the_status(self):
        self.assertEqual(gate.answer("SUCCEEDED", "x"), {"hookStatus": "SUCCEEDED"})


if __name__ == "__main__":
    unittest.main()
