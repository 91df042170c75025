"""One module per grant type (RFC 6749 §4.3, §4.4, §6)."""

from tokenturn.core.grants.base import Policy, check_grant_allowed, require
from tokenturn.core.models import GRANT_TYPES

__all__ = ["GRANT_TYPES", "Policy", "check_grant_allowed", "require"]
