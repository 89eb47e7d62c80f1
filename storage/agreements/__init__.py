"""The customer agreement: publishing versions, customers accepting them (in chat or signed elsewhere), the term of
each acceptance, and what staff see (state, counts, export columns).

Rules, each decided here once:
- A version is in force from the moment its last language is published (see `storage.models.agreement`); the version
  in force is the highest such version. Version numbers only go up; a text in force is never replaced.
- Until a first version is in force no agreement is required: every customer is `none_required`.
- A customer's acceptance is in force while its term (`valid_until`) has not ended; accepting a supplement or a new
  version, or renewing, writes a new acceptance with a new term. Until a customer accepts a newer version, the one
  they accepted stays in force for them (`outdated`, still valid).
- Customers holding an acceptance in force may get proactive messages (`storage.proactive.proactive_allowed`).
"""

from storage.agreements.acceptances import (
    accept,
    acceptance_in_force,
    acceptances_for,
    add_years,
    customer_agreement,
    expiry,
    parse_signed_on,
    record_offline,
    record_offline_many,
)
from storage.agreements.common import (
    AGREEMENT_KIND,
    ASK_LAST_DAY,
    ASK_NEW_VERSION,
    ASK_RENEW,
    ASK_SUPPLEMENT,
    BUTTON_AGREE,
    BUTTON_READ,
    EXPORT_COLUMNS,
    LAST_DAY,
    MAX_SUMMARY_CHARS,
    MAX_TEXT_CHARS,
    PLAN_BATCH,
    RENEW_BEFORE,
    TEMPLATES,
    Acceptance,
    AgreementError,
    AgreementState,
    CustomerAgreement,
    PublishResult,
    agree_data,
    prompt_buttons,
    read_data,
)
from storage.agreements.prompts import ask_to_accept, plan_in_batches
from storage.agreements.records import (
    VersionListing,
    agreement_counts,
    export_values,
    export_values_many,
    forget_acceptances,
    forgotten_counts,
    version_listing,
)
from storage.agreements.versions import (
    agreement_texts,
    chain,
    first_version,
    publish,
    published_versions,
    version_in_force,
)

__all__ = [
    "AGREEMENT_KIND",
    "ASK_LAST_DAY",
    "ASK_NEW_VERSION",
    "ASK_RENEW",
    "ASK_SUPPLEMENT",
    "BUTTON_AGREE",
    "BUTTON_READ",
    "EXPORT_COLUMNS",
    "LAST_DAY",
    "MAX_SUMMARY_CHARS",
    "MAX_TEXT_CHARS",
    "PLAN_BATCH",
    "RENEW_BEFORE",
    "TEMPLATES",
    "Acceptance",
    "AgreementError",
    "AgreementState",
    "CustomerAgreement",
    "PublishResult",
    "VersionListing",
    "accept",
    "acceptance_in_force",
    "acceptances_for",
    "add_years",
    "agree_data",
    "agreement_counts",
    "agreement_texts",
    "ask_to_accept",
    "chain",
    "customer_agreement",
    "expiry",
    "export_values",
    "export_values_many",
    "first_version",
    "forget_acceptances",
    "forgotten_counts",
    "parse_signed_on",
    "plan_in_batches",
    "prompt_buttons",
    "publish",
    "published_versions",
    "read_data",
    "record_offline",
    "record_offline_many",
    "version_in_force",
    "version_listing",
]
