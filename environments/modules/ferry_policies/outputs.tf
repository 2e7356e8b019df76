# Outputs of the ferry_policies module: IAM policy documents (JSON).

output "deploy_policy" {
  description = "What Ferry needs to reconcile the environment (JSON policy document)."
  value       = local.deploy_policy
}

output "plan_policy" {
  description = "What `ferry plan` reads in the cluster, nothing else (JSON policy document)."
  value       = local.plan_policy
}
