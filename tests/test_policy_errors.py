"""An unknown dispatch policy is a leaf of the incidents error tree (issue 13), not a bare ValueError."""

from __future__ import annotations

import numpy as np
import pytest

from incidents.dispatch.solver import POLICIES, Candidate, check_policy, solve
from incidents.errors import UnknownPolicyError, WinteropsError


def test_an_unknown_policy_is_refused_with_its_own_error() -> None:
    unit = Candidate("U1", "plow_truck", frozenset({"plow"}), 0)
    with pytest.raises(UnknownPolicyError, match="'fastest'") as e:
        solve(np.array([[60.0]]), [unit], ["plow"], np.array([1.0]), policy="fastest")
    assert isinstance(e.value, WinteropsError) and isinstance(e.value, ValueError)
    assert e.value.code == "unknown_policy"
    for policy in POLICIES:
        check_policy(policy)
    assert solve(np.array([[60.0]]), [unit], ["plow"], np.array([1.0]), policy="closest") == [
        (0, 0)
    ]
