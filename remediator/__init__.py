"""The AMC Management Agent remediator: Alertmanager webhooks to safe, audited remediation."""
