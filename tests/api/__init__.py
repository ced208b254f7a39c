"""API tests: each builds the whole local runtime (SQLite, local bus, ASL runner) and drives it over FastAPI's
TestClient. Kept out of tests/unit so the unit tier stays fast."""
