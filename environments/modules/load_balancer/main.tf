# Public entry point of one environment: DNS name, TLS certificate,
# application load balancer, target groups and web application firewall.
#
#   https://<domain_name>  ->  ALB :443 (TLS 1.2+/1.3)  ->  production rule  ->  primary / alternate target group (ip)  ->  proxy container :8000
#   http://<domain_name>   ->  ALB :80   ->  301 to https
#   any other host name    ->  404 (Ferry's own host name has rules of its own, modules/ferry)
#
# The target groups are empty here: Ferry registers the ECS service "numbers"
# with the primary one (loadBalancers in the manifest, target_group_arn
# output), and ECS registers the tasks' IPs. The alternate target group and
# the two listener rules are what ECS's native blue/green, canary and linear
# deployments need (advancedConfiguration of the service's load balancer):
# ECS starts the new revision behind the target group that is not serving,
# then moves the weights of the production rule (and of the test rule, for
# test traffic) from one target group to the other, assuming the ECS
# infrastructure role (modules/iam). Terraform creates the rules with all
# traffic on the primary target group and then leaves their actions to ECS.

locals {
  alb_name          = "${var.name}-alb"
  access_log_prefix = "alb"

  # At most 32 characters each (checked by the environments' tests).
  target_group_name           = "${var.name}-proxy"
  alternate_target_group_name = "${var.name}-proxy-alt"

  # Settings of both target groups.
  target_group = {
    target_type          = "ip" # awsvpc Fargate tasks register by IP
    protocol             = "HTTP"
    port                 = var.container_port
    deregistration_delay = 30
    health_check = {
      protocol            = "HTTP"
      path                = var.health_check_path
      port                = "traffic-port"
      matcher             = "200"
      interval            = 15
      timeout             = 5
      healthy_threshold   = 2
      unhealthy_threshold = 3
    }
  }

  # What a request must carry to reach the test listener rule.
  test_traffic_header       = "X-Ferry-Traffic"
  test_traffic_header_value = "test"

  # The certificate's DNS validation records, by domain name.
  validation_options = {
    for option in aws_acm_certificate.this.domain_validation_options : option.domain_name => option
  }
}

# --- DNS and certificate -------------------------------------------------------

data "aws_route53_zone" "this" {
  name         = var.hosted_zone_name
  private_zone = false
}

resource "aws_acm_certificate" "this" {
  domain_name               = var.domain_name
  subject_alternative_names = [var.ferry_host_name]
  validation_method         = "DNS"

  options {
    certificate_transparency_logging_preference = "ENABLED"
  }

  lifecycle {
    create_before_destroy = true
  }
}

# DNS validation record. Keyed by the (known) domain name rather than by the
# certificate's computed validation options, so that plans work before the
# certificate exists.
resource "aws_route53_record" "validation" {
  for_each = toset([var.domain_name, var.ferry_host_name])

  zone_id         = data.aws_route53_zone.this.zone_id
  name            = local.validation_options[each.key].resource_record_name
  type            = local.validation_options[each.key].resource_record_type
  records         = [local.validation_options[each.key].resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  certificate_arn         = aws_acm_certificate.this.arn
  validation_record_fqdns = [for record in aws_route53_record.validation : record.fqdn]
}

resource "aws_route53_record" "app" {
  zone_id = data.aws_route53_zone.this.zone_id
  name    = var.domain_name
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}

# Ferry's own host name (modules/ferry adds its listener rules).
resource "aws_route53_record" "ferry" {
  zone_id = data.aws_route53_zone.this.zone_id
  name    = var.ferry_host_name
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}

# --- Access logs bucket --------------------------------------------------------

# Elastic Load Balancing's log-delivery account in this region.
data "aws_elb_service_account" "this" {}

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This bucket is the access-log destination; logging its own access would loop. CloudTrail data events cover it where required.
  #checkov:skip=CKV_AWS_144:Access logs are reproducible operational data; cross-region replication is not worth doubling their cost.
  #checkov:skip=CKV_AWS_145:ALB access logs can only be written to buckets encrypted with SSE-S3 (AES256), not SSE-KMS.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events from the access-log bucket; notifications would have no receiver.
  bucket        = "${var.name}-alb-logs-${var.account_id}"
  force_destroy = false
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256" # the only encryption ALB log delivery supports
    }
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # Regions launched before August 2022 deliver as the ELB account,
        # newer ones as the log-delivery service principal: allow both.
        Sid    = "AlbLogDelivery"
        Effect = "Allow"
        Principal = {
          AWS     = data.aws_elb_service_account.this.arn
          Service = "logdelivery.elasticloadbalancing.amazonaws.com"
        }
        Action   = "s3:PutObject"
        Resource = "${aws_s3_bucket.access_logs.arn}/${local.access_log_prefix}/AWSLogs/${var.account_id}/*"
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

# --- Load balancer -------------------------------------------------------------

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_150:Deletion protection is an environment setting: on in staging and prod (asserted by their terraform tests), off in dev so it can be torn down.
  name               = local.alb_name
  load_balancer_type = "application"
  internal           = false
  subnets            = var.public_subnet_ids
  security_groups    = [var.security_group_id]

  drop_invalid_header_fields = true
  desync_mitigation_mode     = "strictest"
  enable_deletion_protection = var.deletion_protection

  access_logs {
    bucket  = aws_s3_bucket.access_logs.id
    prefix  = local.access_log_prefix
    enabled = true
  }

  # ELB checks at creation that it may write to the bucket.
  depends_on = [aws_s3_bucket_policy.access_logs]
}

# The primary and the alternate target group of the proxy, with the same
# settings (local.target_group): during a blue/green, canary or linear
# deployment one serves the running revision and the other the new one, and
# they swap roles at every deployment.
resource "aws_lb_target_group" "proxy" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the ALB; the hop to the proxy stays inside the VPC, restricted to the ALB's security group.
  name                 = local.target_group_name
  vpc_id               = var.vpc_id
  target_type          = local.target_group.target_type
  protocol             = local.target_group.protocol
  port                 = local.target_group.port
  deregistration_delay = local.target_group.deregistration_delay

  dynamic "health_check" {
    for_each = [local.target_group.health_check]
    content {
      enabled             = true
      protocol            = health_check.value.protocol
      path                = health_check.value.path
      port                = health_check.value.port
      matcher             = health_check.value.matcher
      interval            = health_check.value.interval
      timeout             = health_check.value.timeout
      healthy_threshold   = health_check.value.healthy_threshold
      unhealthy_threshold = health_check.value.unhealthy_threshold
    }
  }
}

resource "aws_lb_target_group" "proxy_alternate" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the ALB; the hop to the proxy stays inside the VPC, restricted to the ALB's security group.
  name                 = local.alternate_target_group_name
  vpc_id               = var.vpc_id
  target_type          = local.target_group.target_type
  protocol             = local.target_group.protocol
  port                 = local.target_group.port
  deregistration_delay = local.target_group.deregistration_delay

  dynamic "health_check" {
    for_each = [local.target_group.health_check]
    content {
      enabled             = true
      protocol            = health_check.value.protocol
      path                = health_check.value.path
      port                = health_check.value.port
      matcher             = health_check.value.matcher
      interval            = health_check.value.interval
      timeout             = health_check.value.timeout
      healthy_threshold   = health_check.value.healthy_threshold
      unhealthy_threshold = health_check.value.unhealthy_threshold
    }
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = aws_acm_certificate_validation.this.certificate_arn

  # Requests for a host name the listener's rules do not serve (the ALB's
  # own DNS name, a bare IP). Not a forward to a target group: which target
  # group serves the app changes with every blue/green deployment.
  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "Not found"
      status_code  = "404"
    }
  }
}

# The app's production traffic: every request for domain_name, forwarded to
# the primary and the alternate target group by weight (100/0 until ECS's
# first blue/green, canary or linear deployment moves them). A forward action
# only: ECS refuses rules that mix forward with other action types. ECS owns
# the weights, so Terraform ignores the action after creating it.
resource "aws_lb_listener_rule" "production" {
  listener_arn = aws_lb_listener.https.arn
  priority     = var.production_rule_priority

  condition {
    host_header {
      values = [var.domain_name]
    }
  }

  action {
    type = "forward"

    forward {
      target_group {
        arn    = aws_lb_target_group.proxy.arn
        weight = 100
      }

      target_group {
        arn    = aws_lb_target_group.proxy_alternate.arn
        weight = 0
      }
    }
  }

  lifecycle {
    ignore_changes = [action]
  }

  tags = { Name = "${var.name}-production" }
}

# Test traffic of a blue/green deployment: during its test stages ECS points
# this rule at the new revision while production traffic stays on the
# running one. It takes requests for domain_name that carry the header
# `${local.test_traffic_header}: ${local.test_traffic_header_value}` and come
# from test_traffic_source_cidrs (by default the VPC's NAT gateways: the
# bastion and the tasks inside the VPC, Ferry included): the rest of the internet
# cannot reach an untested revision. Same listener, same TLS policy and WAF
# as production traffic; evaluated before the production rule.
resource "aws_lb_listener_rule" "test" {
  listener_arn = aws_lb_listener.https.arn
  priority     = var.test_rule_priority

  condition {
    host_header {
      values = [var.domain_name]
    }
  }

  condition {
    http_header {
      http_header_name = local.test_traffic_header
      values           = [local.test_traffic_header_value]
    }
  }

  condition {
    source_ip {
      values = var.test_traffic_source_cidrs
    }
  }

  action {
    type = "forward"

    forward {
      target_group {
        arn    = aws_lb_target_group.proxy.arn
        weight = 100
      }

      target_group {
        arn    = aws_lb_target_group.proxy_alternate.arn
        weight = 0
      }
    }
  }

  lifecycle {
    ignore_changes = [action]
  }

  tags = { Name = "${var.name}-test" }
}

resource "aws_lb_listener" "http_redirect" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

# --- Web application firewall --------------------------------------------------

resource "aws_wafv2_web_acl" "this" {
  name        = local.alb_name
  description = "Managed rule groups and a per-IP rate limit in front of ${local.alb_name}."
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "aws-common"
    priority = 10

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.alb_name}-aws-common"
      sampled_requests_enabled   = true
    }
  }

  # Includes the Log4j (Log4Shell) JNDI lookup rules.
  rule {
    name     = "aws-known-bad-inputs"
    priority = 20

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.alb_name}-aws-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-ip-reputation"
    priority = 30

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAmazonIpReputationList"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.alb_name}-aws-ip-reputation"
      sampled_requests_enabled   = true
    }
  }

  # Anonymizers (Tor exit nodes, anonymous proxies) are blocked; requests
  # from cloud hosting providers are only counted, so that legitimate
  # clients running in a cloud are not locked out.
  rule {
    name     = "aws-anonymous-ip"
    priority = 35

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAnonymousIpList"

        rule_action_override {
          name = "HostingProviderIPList"

          action_to_use {
            count {}
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.alb_name}-aws-anonymous-ip"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 40

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = var.waf_rate_limit
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.alb_name}-rate-limit-per-ip"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = local.alb_name
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl_association" "this" {
  resource_arn = aws_lb.this.arn
  web_acl_arn  = aws_wafv2_web_acl.this.arn
}

# WAF requires log group names starting with "aws-waf-logs-".
resource "aws_cloudwatch_log_group" "waf" {
  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.waf_log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  resource_arn            = aws_wafv2_web_acl.this.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  # Credentials never reach the logs.
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }

  redacted_fields {
    single_header {
      name = "cookie"
    }
  }
}
