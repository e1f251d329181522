"""The Gladly Lookup Adaptor we serve: contract shaping, actions and routes."""
