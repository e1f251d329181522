"""HTTP: the FastAPI app factory and its routers."""
