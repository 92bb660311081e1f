"""Errors a user can fix. The CLI prints their message as one line and exits with code 2."""

from __future__ import annotations


class CothubError(Exception):
    """Bad input or an unusable environment: the message names the problem and the fix."""


class BackendError(CothubError):
    """The model server failed in a way retries could not cure; finished work is kept."""
