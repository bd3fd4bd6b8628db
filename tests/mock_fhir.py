"""A small FHIR client for tests of the mock hospitals: real HTTP, no product code."""

import json
from decimal import Decimal

import httpx


class MockFHIR:
    def __init__(self, server_url: str, institution, *, timeout: float = 10):
        self.root = server_url
        self.base = f"{server_url}/mock/{institution.slug}/fhir"
        self.institution = institution
        self.http = httpx.Client(timeout=timeout)
        self.http.headers["Authorization"] = f"Bearer {self.token()}"

    def token(self) -> str:
        response = self.http.post(
            f"{self.root}/mock/{self.institution.slug}/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.institution.client_id,
                "client_secret": self.institution.client_secret,
            },
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def get(self, path: str, **params) -> httpx.Response:
        url = path if path.startswith("http") else f"{self.base}/{path}"
        return self.http.get(url, params=params or None)

    def walk(self, path: str, **params) -> tuple[list[dict], int]:
        """Every resource of a paged search (raising on any error page), and the page count."""
        resources, pages = [], 0
        response = self.get(path, **params)
        while True:
            response.raise_for_status()
            # Decimals as sent (FHIR: their precision is significant), as PHR reads them.
            bundle = json.loads(response.content, parse_float=Decimal)
            pages += 1
            resources += [entry["resource"] for entry in bundle.get("entry", [])]
            next_url = next(
                (link["url"] for link in bundle["link"] if link["relation"] == "next"), None
            )
            if next_url is None:
                return resources, pages
            response = self.get(next_url)

    def close(self):
        self.http.close()
