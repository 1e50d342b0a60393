"""Policies: everything that turns an observation into reasoning text and an action chunk."""

from chatvla2.policy.interface import Observation, Policy, PolicyOutput

__all__ = ["Observation", "Policy", "PolicyOutput"]
