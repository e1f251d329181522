"""Gladly: the Lookup Adaptor's contract (the requests it sends us and the answers we give),
the request signing both ways, and the client of its REST API. The HTTP routes serving the
adaptor are in api/gladly/.
"""
