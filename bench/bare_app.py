"""The ceiling: a bare Flask app answering a constant 13-field JSON object, served like the portal."""

from flask import Flask

app = Flask(__name__)
PROFILE = {
    "id": 1, "username": "bench", "mobile_number": None, "email": "bench@example.com", "avatar": None,
    "first_name": "Bench", "last_name": "Mark", "full_name": "Bench Mark", "gender": None,
    "is_profile_completed": False, "groups": [], "last_login": "2026-01-01T00:00:00Z",
    "created_at": "2026-01-01T00:00:00Z",
}


@app.get("/api/users/me/")
def me():
    return PROFILE
