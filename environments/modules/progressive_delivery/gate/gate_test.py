"""Tests of the deployment gate's decision (`python3 -m unittest gate_test` in this folder)."""

import unittest

import gate

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


class Answer(unittest.TestCase):
    def test_in_progress_asks_to_be_called_back(self):
        self.assertEqual(gate.answer("IN_PROGRESS", "x"), {"hookStatus": "IN_PROGRESS", "callBackDelay": 15})

    def test_final_answers_carry_only_the_status(self):
        self.assertEqual(gate.answer("SUCCEEDED", "x"), {"hookStatus": "SUCCEEDED"})


if __name__ == "__main__":
    unittest.main()
