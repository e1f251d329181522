"""Use cases: compose domain decisions, the store and (later) delivery. One module per concept."""
