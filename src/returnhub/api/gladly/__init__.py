"""The Gladly Lookup Adaptor's HTTP side: routes, authentication, errors and the actions'
forms. What Gladly sends and what we answer (the contract) is in connectors/gladly/."""
