"""The Grafana dashboards of the AMC Management Agent, generated with Grafana's foundation SDK.

``python -m grafana.generate`` writes ``grafana/dashboards/*.json`` (committed); see
``grafana/README.md``.
"""

import warnings

# The dashboards use the classic dashboard JSON (schema v1), which file provisioning reads in
# every Grafana from 9 on. The SDK warns, when its modules are first imported, that it prefers
# the v2 schema (Grafana 12's, behind a feature flag there): imported here once, quietly.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Prefer using dashboardv2", DeprecationWarning)
    from grafana_foundation_sdk.builders import (  # noqa: F401
        dashboard,
        prometheus,
        stat,
        statetimeline,
        timeseries,
    )
