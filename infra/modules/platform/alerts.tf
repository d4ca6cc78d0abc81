# The alerts topic (MLOPS_ALERTS_TOPIC_ARN): rejected batches, failed tasks, training summaries,
# and the CloudWatch alarms below. Subscriptions (e-mail, chat) are added per environment.
resource "aws_sns_topic" "alerts" {
  name              = "${var.name_prefix}-alerts"
  kms_master_key_id = var.platform_kms_key_arn
}

# Pipeline failures as MWAA reports them: namespace AmazonMWAA, Airflow's ti_failures counter as
# TaskInstanceFailures with the dimensions DAG=All, Task=All (plus Environment), per the MWAA user
# guide's metric tables ("Apache Airflow environment metrics in CloudWatch"). A Function dimension
# here would match no data point and the alarm would never fire.
resource "aws_cloudwatch_metric_alarm" "task_failures" {
  alarm_name          = "${var.name_prefix}-task-failures"
  alarm_description   = "Airflow task instances failed in ${var.mwaa_environment_name}."
  namespace           = "AmazonMWAA"
  metric_name         = "TaskInstanceFailures"
  dimensions          = { Environment = var.mwaa_environment_name, DAG = "All", Task = "All" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
}

# No scheduler heartbeat means no pipeline runs at all: missing data is an alarm here.
# SchedulerHeartbeat (scheduler_heartbeat) has Function=Scheduler; Sum < 1 over 2 x 5 minutes,
# missing data breaching, is MWAA's own recommended alarm.
resource "aws_cloudwatch_metric_alarm" "scheduler_heartbeat" {
  alarm_name          = "${var.name_prefix}-scheduler-heartbeat"
  alarm_description   = "The Airflow scheduler of ${var.mwaa_environment_name} stopped reporting heartbeats."
  namespace           = "AmazonMWAA"
  metric_name         = "SchedulerHeartbeat"
  dimensions          = { Environment = var.mwaa_environment_name, Function = "Scheduler" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
}
