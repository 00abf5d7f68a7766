"""The remediation command catalog and its implementations."""
