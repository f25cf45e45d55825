"""Stage targeting: consented, capped, timed and explained send lists for an e-mail platform.

The flow (each step a module):

1. **Inputs** (:mod:`~workbench.targeting.inputs`): the feature table with the optional
   churn, CLV and uplift outputs joined on (recommendations feed the content).
2. **Audiences** (:mod:`~workbench.targeting.rules`): declarative YAML rules
   (``audiences.yml`` beside the data, or the built-in defaults) with a priority, a
   message type and a control share; an audience whose inputs are absent is "not
   applicable".
3. **Consent** (:mod:`~workbench.targeting.consent`): e-mail opt-in only; unsubscribes,
   bounces and a suppression list excluded, counted per rule.
4. **Frequency cap** (:mod:`~workbench.targeting.capping`): at most ``max_messages`` per
   ``cap_days`` across audiences, by priority; overlaps before and after.
5. **Control groups** (:mod:`~workbench.targeting.control`): a seeded hash-based holdout.
6. **Send time** (:mod:`~workbench.targeting.sendtime`): a per-customer hour from opens
   and clicks (machine opens ignored), empirical-Bayes shrinkage toward the population's
   best hour, evaluated on held-out interactions.
7. **Content** (:mod:`~workbench.targeting.content`): template fields and a Jinja2 preview.
8. **Export** (:mod:`~workbench.targeting.export`): one CSV and Parquet file per audience
   with a pseudonymous key, and a manifest with checksums.
9. **Readout** (:mod:`~workbench.targeting.readout`): the optional model outputs read
   through the catalog, whether anything can be built, the report's tables and figures,
   and the headline.

:func:`plan_targeting` runs steps 1–7; :func:`targeting_summary` gives the headline numbers.

Examples
--------
>>> from workbench import targeting
>>> plan = targeting.plan_targeting(features, "2026-06-30", churn=scores,
...     customers=customers, email_events=email_events)                  # doctest: +SKIP
>>> plan.sizes[["audience", "status", "matched", "after_consent", "after_cap"]]  # doctest: +SKIP
>>> salt = targeting.resolve_salt(salt_file="data/.targeting_salt", create=True)  # doctest: +SKIP
>>> targeting.export_audiences(plan.rows, "exports/2026-06-30", salt=salt)     # doctest: +SKIP
"""

from workbench.targeting.capping import (
    apply_frequency_cap,
    cap_table,
    overlap_matrix,
    recent_sends,
)
from workbench.targeting.consent import (
    CONSENT_RULES,
    SuppressionList,
    consent_table,
    email_sha256,
    exclusion_counts,
    read_suppression_list,
)
from workbench.targeting.content import (
    content_fields,
    default_template_path,
    load_template,
    preview_messages,
    render_preview,
)
from workbench.targeting.control import assign_control, control_table, uniform_from_hash
from workbench.targeting.export import (
    MANIFEST_FILE,
    email_columns,
    export_audiences,
    pseudonymous_key,
    resolve_salt,
)
from workbench.targeting.inputs import (
    CLV_TIERS,
    TargetingInputError,
    check_recommendations,
    targeting_table,
)
from workbench.targeting.params import SALT_ENV, TargetingParams
from workbench.targeting.plan import (
    EXPORT_COLUMNS,
    TargetingPlan,
    plan_targeting,
    targeting_summary,
)
from workbench.targeting.readout import (
    RULE_TEXT,
    SUPPRESSION_FILE,
    UPSTREAM,
    applicable,
    beside_data,
    exclusion_table,
    funnel_figure,
    funnel_table,
    headline,
    manifest_table,
    overlap_table,
    plan_applicable,
    planted_hours,
    preview_table,
    read_upstream,
    send_time_figure,
    send_time_table,
    stage_summary,
)
from workbench.targeting.rules import (
    AUDIENCES_FILE,
    OPERATORS,
    Audience,
    AudienceError,
    AudienceMatch,
    Condition,
    Group,
    default_audiences_path,
    evaluate_audiences,
    load_audiences,
    parse_audiences,
    rule_text,
)
from workbench.targeting.sendtime import (
    SendHours,
    SendTimeEvaluation,
    evaluate_send_hours,
    fit_send_hours,
    interaction_times,
)

__all__ = [
    "AUDIENCES_FILE",
    "CLV_TIERS",
    "CONSENT_RULES",
    "EXPORT_COLUMNS",
    "MANIFEST_FILE",
    "OPERATORS",
    "RULE_TEXT",
    "SALT_ENV",
    "SUPPRESSION_FILE",
    "UPSTREAM",
    "Audience",
    "AudienceError",
    "AudienceMatch",
    "Condition",
    "Group",
    "SendHours",
    "SendTimeEvaluation",
    "SuppressionList",
    "TargetingInputError",
    "TargetingParams",
    "TargetingPlan",
    "applicable",
    "apply_frequency_cap",
    "assign_control",
    "beside_data",
    "cap_table",
    "check_recommendations",
    "consent_table",
    "content_fields",
    "control_table",
    "default_audiences_path",
    "default_template_path",
    "email_columns",
    "email_sha256",
    "evaluate_audiences",
    "evaluate_send_hours",
    "exclusion_counts",
    "exclusion_table",
    "export_audiences",
    "fit_send_hours",
    "funnel_figure",
    "funnel_table",
    "headline",
    "interaction_times",
    "load_audiences",
    "load_template",
    "manifest_table",
    "overlap_matrix",
    "overlap_table",
    "parse_audiences",
    "plan_applicable",
    "plan_targeting",
    "planted_hours",
    "preview_messages",
    "preview_table",
    "pseudonymous_key",
    "read_suppression_list",
    "read_upstream",
    "recent_sends",
    "render_preview",
    "resolve_salt",
    "rule_text",
    "send_time_figure",
    "send_time_table",
    "stage_summary",
    "targeting_summary",
    "targeting_table",
    "uniform_from_hash",
]
