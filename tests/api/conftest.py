"""Helpers for replaying the documents' Python examples."""


class ApiSession:
    """The documents' ``requests.Session()`` usage, played through the Flask test client.

    ``headers`` are sent with every request; ``json=``, ``data=`` and ``files=`` mean what they
    mean to requests, and the response offers ``status_code``, ``headers`` and ``json()``.
    """

    class Response:
        def __init__(self, response):
            self.raw = response
            self.status_code = response.status_code
            self.headers = response.headers

        def json(self):
            return self.raw.get_json()

    def __init__(self, client):
        self.client = client
        self.headers = {}

    def request(self, method, url, *, json=None, data=None, files=None, headers=None):
        body = {"json": json} if json is not None else {"data": {**(data or {}), **(files or {})}}
        response = self.client.open(url, method=method, headers={**self.headers, **(headers or {})}, **body)
        return self.Response(response)

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def put(self, url, **kwargs):
        return self.request("PUT", url, **kwargs)

    def patch(self, url, **kwargs):
        return self.request("PATCH", url, **kwargs)
