"""Gladly: the Lookup Adaptor we serve and the REST API we call.

Contract: ../shared/reference/gladly.md.
"""
