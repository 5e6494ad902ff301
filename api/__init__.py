"""The faces: the FastAPI app, one router per domain, the `huimin` command."""
