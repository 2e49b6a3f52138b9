"""Is a deployed fix proven? The crash's rate before the fix against the silence since (pure).

A crash that came at rate λ (per hour of recorded uptime; else per hour live between deploys; else per
hour of wall clock) is absent from ``t`` hours of builds containing the fix with probability
P(0 | λt) = e^(-λt) (Poisson).
When that is below :data:`SIGNIFICANCE` (1 %), the silence is no accident: the fix is verified. Needing
λt > ln(1/0.01) ≈ 4.6, a crash seen once a month needs about four and a half months of silence, and the
issue says so rather than waiting quietly.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime

from bot.payload import Occurrences, day_of

SIGNIFICANCE = 0.01
MAX_WAIT_DAYS = 60  # beyond this many days of expected waiting, a crash is "too rare to verify soon"
_HOURS_PER_DAY = 24.0


class Verdict(enum.StrEnum):
    VERIFIED = "verified"  # P(0 | λt) < 1 %
    WAITING = "waiting"  # not yet significant, expected within MAX_WAIT_DAYS
    TOO_RARE = "too-rare"  # significance would take longer than MAX_WAIT_DAYS
    REGRESSED = "regressed"  # a build containing the fix crashed: no silence to measure
    NO_HISTORY = "no-history"  # no dated occurrence before the fix: no rate to compare with


class Basis(enum.StrEnum):
    UPTIME = "hours of uptime"  # recorded by the uploaders (bot.ledger)
    LIVE = "hours live (deploy to deploy)"  # estimated from Deployments: downtime counts as live
    WALL_CLOCK = "hours of wall clock"


@dataclass(frozen=True)
class Exposure:
    """Hours the crash could have happened in: before the fix (from the first dated day to the start of
    the deploy day) and since (on builds containing the fix). None for either means "unknown": then
    both are wall-clock hours. ``basis`` says where known hours came from."""

    hours_before: float | None = None
    hours_after: float | None = None
    basis: Basis = Basis.UPTIME


@dataclass(frozen=True)
class Evidence:
    """The numbers behind a :class:`Verdict`, as the issue comment states them."""

    verdict: Verdict
    basis: Basis
    crashes_before: int
    hours_before: float
    crashes_after: int  # on builds containing the fix
    hours_after: float
    rate_per_hour: float  # λ before the fix
    p_zero: float  # P(0 | λ × hours_after)
    hours_needed: float  # hours of silence that make P(0) < SIGNIFICANCE
    days_needed: float  # the same in calendar days at the observed uptime per day

    @property
    def expected_after(self) -> float:
        """Crashes the old rate predicts for the silence so far (λt)."""
        return self.rate_per_hour * self.hours_after


def hours_needed(rate_per_hour: float, significance: float = SIGNIFICANCE) -> float:
    """Hours of silence after which P(0 | rate × hours) < ``significance`` (∞ for a zero rate)."""
    if rate_per_hour <= 0:
        return math.inf
    return math.log(1 / significance) / rate_per_hour


def assess(
    occ: Occurrences,
    *,
    deployed_at: datetime,
    now: datetime,
    crashes_after: int,
    exposure: Exposure = Exposure(),
    max_wait_days: float = MAX_WAIT_DAYS,
) -> Evidence:
    """The verdict on a fix deployed at ``deployed_at`` for the crash whose history is ``occ``.

    ``crashes_after`` counts occurrences on builds containing the fix (the caller knows which builds
    those are). The rate before comes from the dated days strictly before the deploy's UTC day: a crash
    on the deploy day itself may have come either side of it, so it is left out of the rate.
    """
    deploy_day = day_of(deployed_at)
    before = [(d, n) for d, n in occ.days if d < deploy_day.isoformat()]
    crashes_before = sum(n for _, n in before)
    wall_before = (deploy_day - date.fromisoformat(before[0][0])).days * _HOURS_PER_DAY if before else 0.0
    wall_after = max((_utc(now) - _utc(deployed_at)).total_seconds() / 3600, 0.0)
    if exposure.hours_before is not None and exposure.hours_after is not None:
        basis, hours_before, hours_after = exposure.basis, exposure.hours_before, exposure.hours_after
    else:
        basis, hours_before, hours_after = Basis.WALL_CLOCK, wall_before, wall_after
    rate = crashes_before / hours_before if hours_before > 0 else 0.0
    needed = hours_needed(rate)
    # calendar days at the uptime per day seen before the fix (24 h a day on the wall clock)
    per_day = hours_before / (wall_before / _HOURS_PER_DAY) if wall_before > 0 else _HOURS_PER_DAY
    days = needed / per_day if per_day > 0 else math.inf
    p_zero = math.exp(-rate * hours_after)
    verdict = _verdict(crashes_before, rate, crashes_after, p_zero=p_zero, days=days, max_wait=max_wait_days)
    return Evidence(
        verdict=verdict,
        basis=basis,
        crashes_before=crashes_before,
        hours_before=hours_before,
        crashes_after=crashes_after,
        hours_after=hours_after,
        rate_per_hour=rate,
        p_zero=p_zero,
        hours_needed=needed,
        days_needed=days,
    )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _verdict(
    crashes_before: int, rate: float, crashes_after: int, *, p_zero: float, days: float, max_wait: float
) -> Verdict:
    if crashes_after > 0:
        return Verdict.REGRESSED
    if crashes_before == 0 or rate <= 0:
        return Verdict.NO_HISTORY
    if p_zero < SIGNIFICANCE:
        return Verdict.VERIFIED
    if days > max_wait:
        return Verdict.TOO_RARE
    return Verdict.WAITING


def verified_comment(evidence: Evidence, *, fix: str, realms: str) -> str:
    """The comment that goes with the ``fix-verified`` label: the numbers, then what they mean."""
    e = evidence
    return (
        f"**Fix verified in production.** Before {fix}: **{e.crashes_before}** crash(es) in "
        f"{e.hours_before:,.1f} {e.basis.value}, a rate of {e.rate_per_hour:.4g} per hour. Since it went "
        f"live on {realms}: **0** crashes in {e.hours_after:,.1f} {e.basis.value} on builds containing the "
        f"fix, where the old rate predicts {e.expected_after:.2f}.\n\n"
        f"Poisson: P(0 crashes | {e.rate_per_hour:.4g}/h × {e.hours_after:,.1f} h) = "
        f"e^-{e.expected_after:.2f} = **{e.p_zero:.2%}** < {SIGNIFICANCE:.0%}: this silence is no accident."
    )


def too_rare_comment(evidence: Evidence) -> str:
    """What the issue says when proving the fix would take longer than anyone waits."""
    e = evidence
    when = "never (no rate)" if math.isinf(e.days_needed) else f"about {e.days_needed:,.0f} days"
    return (
        f"**This crash is too rare to verify its fix soon.** Before the fix it came {e.crashes_before} "
        f"time(s) in {e.hours_before:,.1f} {e.basis.value} ({e.rate_per_hour:.3g} per hour): proving "
        f"the fix (P(0) < {SIGNIFICANCE:.0%}) needs {e.hours_needed:,.0f} {e.basis.value} without it, "
        f"{when} at the uptime seen so far. A crash from a build containing the fix will still reopen "
        "this issue as a regression."
    )
