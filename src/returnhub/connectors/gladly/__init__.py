"""Gladly: the Lookup Adaptor we serve and the REST API we call. See ../shared/reference/gladly.md."""
